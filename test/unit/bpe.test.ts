import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import fc from 'fast-check'
import { CL100K_TOKEN_SPLIT_REGEX, O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants'
import { describe, expect, it } from 'vitest'
import { BpeCounter, packRanks, type RankEntry } from '../../src/gateway/bpe.js'

const require = createRequire(import.meta.url)
type Reference = { countTokens(text: string, options?: object): number }
// The reference: gpt-tokenizer's own encoder, with special-token markers counted as plain text.
const plain = { allowedSpecial: new Set<string>(), disallowedSpecial: new Set<string>() }
const encodings = [
  {
    name: 'o200k_base',
    split: O200K_TOKEN_SPLIT_REGEX,
    reference: require('gpt-tokenizer/cjs/encoding/o200k_base') as Reference,
  },
  {
    name: 'cl100k_base',
    split: CL100K_TOKEN_SPLIT_REGEX,
    reference: require('gpt-tokenizer/cjs/encoding/cl100k_base') as Reference,
  },
]

const texts = [
  '',
  'hello',
  'The quick brown fox jumps over the lazy dog.',
  "I'm sure they'll say it's   fine\n\n\tisn't it?",
  'Ünïcödé façade — naïve café; 日本語のテキストと漢字; 한국어 문장; العربية; עברית; ελληνικά; русский текст.',
  'emoji 🎉👩‍👩‍👧‍👦🏳️‍🌈 and flags 🇫🇷🇯🇵, math ∑∫√∞ ≠ ≤, box ┌─┐',
  'function foo(a, b) {\n  return a + b // 42\n}\n\nconst x = [1, 2, 3].map((n) => n ** 2)\n',
  '12345678901234567890 3.14159 1e-10 0xDEADBEEF',
  'hi <|endoftext|> there <|im_start|>system',
  'lone surrogates \ud800 and \udfff here',
  '   leading and trailing spaces   ',
  'a'.repeat(3000),
  readFileSync(new URL('../../README.md', import.meta.url), 'utf8'),
  readFileSync(new URL('../fixtures/safety/corpus.jsonl', import.meta.url), 'utf8').slice(0, 200_000),
]

describe.each(encodings)('packed BPE counter ($name)', ({ name, split, reference }) => {
  const ranks = (require(`gpt-tokenizer/cjs/bpeRanks/${name}`) as { default: RankEntry[] }).default
  const counter = new BpeCounter(packRanks(ranks), split)

  it('counts exactly as gpt-tokenizer on varied text', () => {
    for (const text of texts) {
      expect(counter.countTokens(text), text.slice(0, 40)).toBe(reference.countTokens(text, plain))
    }
  })

  it('counts exactly as gpt-tokenizer on random strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        expect(counter.countTokens(text)).toBe(reference.countTokens(text, plain))
      }),
      { numRuns: 300 },
    )
  })

  it('bounds a huge single piece by its bytes instead of merging it', () => {
    const piece = 'é'.repeat(10_000)
    expect(counter.countTokens(piece)).toBeLessThanOrEqual(Buffer.byteLength(piece))
    expect(counter.countTokens(piece)).toBeGreaterThan(0)
  })
})

describe('packRanks', () => {
  it('refuses what is not a packed vocabulary', () => {
    expect(() => new BpeCounter(Buffer.from('not a vocabulary'), O200K_TOKEN_SPLIT_REGEX)).toThrow(
      /not a packed BPE vocabulary/,
    )
  })

  it('keeps ranks the vocabulary skips and tokens that are bytes rather than text', () => {
    const counter = new BpeCounter(packRanks(['a', 'b', undefined, [0xff], 'ab']), /./gsu)
    expect(counter.countTokens('ab')).toBe(2)
  })
})
