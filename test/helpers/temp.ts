import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { IronConfig } from '../../src/config/config.js'
import type { Env } from '../../src/config/paths.js'
import { MemoryVault } from '../../src/config/vault.js'
import { LocalContext } from '../../src/services/context.js'

export const tempDir = (label = 'iron'): string => mkdtempSync(join(tmpdir(), `${label}-`))

/** Config and data dirs of their own, as a fresh machine would have. */
export function tempDirs() {
  const root = tempDir()
  return { root, configDir: join(root, 'config'), dataDir: join(root, 'data') }
}

/** A local context on a temporary store with an in-memory vault. */
export async function tempContext(env: Env = {}, vault = new MemoryVault()) {
  const dirs = tempDirs()
  const config = await IronConfig.load(dirs, env)
  const ctx = new LocalContext({ config, env, vault })
  return { ctx, dirs, vault }
}
