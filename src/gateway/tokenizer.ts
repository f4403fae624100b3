import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { CL100K_TOKEN_SPLIT_REGEX, O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants'
import { BpeCounter, packRanks, type RankEntry } from './bpe.js'

/**
 * Token counts for reservations and for streams cut short. OpenAI models are counted with their real BPE
 * encodings (the vocabularies gpt-tokenizer ships, packed by `npm run build` into dist/bpe/); other
 * families have no public tokenizer, so their counts are estimates that err high (a byte count / 3), which
 * keeps reservations on the safe side.
 */
type EncodingName = 'o200k_base' | 'cl100k_base'

const SPLIT: Record<EncodingName, RegExp> = {
  o200k_base: O200K_TOKEN_SPLIT_REGEX,
  cl100k_base: CL100K_TOKEN_SPLIT_REGEX,
}
const counters: Partial<Record<EncodingName, BpeCounter>> = {}
const require = createRequire(import.meta.url)

/**
 * The packed vocabulary (a few MB, read in milliseconds); from a source checkout without a build, packed
 * from gpt-tokenizer's own module instead (slower to load, and its strings stay in memory until collected).
 */
function packed(name: EncodingName): Uint8Array {
  try {
    return readFileSync(new URL(`../../bpe/${name}.bin`, import.meta.url))
  } catch {
    const ranks = (require(`gpt-tokenizer/cjs/bpeRanks/${name}`) as { default: RankEntry[] }).default
    return packRanks(ranks)
  }
}

function counter(name: EncodingName): BpeCounter {
  let found = counters[name]
  if (!found) {
    found = new BpeCounter(packed(name), SPLIT[name])
    counters[name] = found
  }
  return found
}

/** Load o200k (current OpenAI models) before the gateway takes traffic; cl100k (older models) on first use. */
export async function loadTokenizers(): Promise<void> {
  counter('o200k_base')
}

const O200K = /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt)/
const CL100K = /^(gpt-4|gpt-3\.5|text-embedding)/

export function encodingFor(model: string, provider: string): EncodingName | undefined {
  if (provider !== 'openai') return undefined
  if (O200K.test(model)) return 'o200k_base'
  if (CL100K.test(model)) return 'cl100k_base'
  return undefined
}

/** Beyond this much text, counting costs more than it is worth: the byte count is a sure upper bound. */
const MAX_COUNTED_CHARS = 256 * 1024
/** Per-message framing tokens the APIs add around each piece of text (OpenAI documents 3–4). */
const FRAMING_TOKENS = 4

const estimate = (text: string) => Math.ceil(Buffer.byteLength(text) / 3)

export interface TokenCount {
  tokens: number
  method: 'tokenizer' | 'estimate' | 'bytes'
}

/**
 * A sure upper bound of the input tokens of a request's texts, without a tokenizer: no token is shorter
 * than a byte, and every estimate here errs high of the byte count / 3. Cheap (no counting), so the
 * gateway admits by it whenever the worst case it gives fits what it holds anyway.
 */
export function inputTokenBound(texts: readonly string[]): number {
  let bytes = 0
  for (const text of texts) bytes += Buffer.byteLength(text)
  return bytes + FRAMING_TOKENS * texts.length + 3
}

/** Input tokens of a request's texts, with framing; an upper bound whenever exact counting is not possible. */
export function countInputTokens(texts: readonly string[], model: string, provider: string): TokenCount {
  const chars = texts.reduce((n, t) => n + t.length, 0)
  const framing = FRAMING_TOKENS * texts.length + 3
  if (chars > MAX_COUNTED_CHARS) {
    return { tokens: texts.reduce((n, t) => n + Buffer.byteLength(t), 0) + framing, method: 'bytes' }
  }
  const name = encodingFor(model, provider)
  if (!name) return { tokens: texts.reduce((n, t) => n + estimate(t), 0) + framing, method: 'estimate' }
  const bpe = counter(name)
  let tokens = framing
  for (const text of texts) tokens += bpe.countTokens(text)
  return { tokens, method: 'tokenizer' }
}

/**
 * Output tokens of text a response produced (a stream cut short, an answer without usage): counted with the
 * model's encoding, or with o200k for families without a public tokenizer (a charge should be close to
 * what was produced, not an upper bound; the caller caps it at what was reserved). Never zero once
 * anything was produced.
 */
export function countOutputTokens(text: string, model: string, provider: string): number {
  if (text.length === 0) return 0
  if (text.length > MAX_COUNTED_CHARS) return Math.ceil(Buffer.byteLength(text) / 4)
  const name = encodingFor(model, provider) ?? 'o200k_base'
  return Math.max(1, counter(name).countTokens(text))
}
