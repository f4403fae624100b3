// Regenerate oclif.manifest.json with its commands in a stable order: oclif lists them in the order the
// file system returns them, which differs between checkouts, and CI compares the file byte for byte.
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'

execFileSync('npx', ['oclif', 'manifest'], { stdio: ['ignore', 'ignore', 'inherit'] })
const path = new URL('../oclif.manifest.json', import.meta.url)
const manifest = JSON.parse(readFileSync(path, 'utf8'))
manifest.commands = Object.fromEntries(
  Object.entries(manifest.commands).sort(([a], [b]) => a.localeCompare(b)),
)
writeFileSync(path, `${JSON.stringify(manifest, null, 2)}\n`)
