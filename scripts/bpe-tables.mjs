// Pack the BPE vocabularies the gateway counts tokens with (gpt-tokenizer's o200k_base and cl100k_base) into
// dist/bpe/<name>.bin, the compact form src/gateway/bpe.ts reads: a few MB on disk and in memory, loaded in
// milliseconds, instead of hundreds of thousands of strings parsed from JavaScript at every gateway start.
// Runs after tsc in `npm run build`; the files are build output (dist/), never committed.
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { packRanks } from '../dist/src/gateway/bpe.js'

const require = createRequire(import.meta.url)
const out = new URL('../dist/bpe/', import.meta.url)
mkdirSync(out, { recursive: true })
for (const name of ['o200k_base', 'cl100k_base']) {
  const ranks = require(`gpt-tokenizer/cjs/bpeRanks/${name}`).default
  writeFileSync(new URL(`${name}.bin`, out), packRanks(ranks))
}
