import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  countInputTokens,
  countOutputTokens,
  encodingFor,
  inputTokenBound,
  loadTokenizers,
} from '../../src/gateway/tokenizer.js'

beforeAll(async () => loadTokenizers())

describe('token counting', () => {
  it('uses the model family’s encoding for OpenAI models, including older ones loaded on first use', () => {
    expect(encodingFor('gpt-4o-mini', 'openai')).toBe('o200k_base')
    expect(encodingFor('gpt-3.5-turbo', 'openai')).toBe('cl100k_base')
    expect(encodingFor('claude-sonnet-4-6', 'anthropic')).toBeUndefined()
    const text = 'The quick brown fox jumps over the lazy dog.'
    expect(countInputTokens([text], 'gpt-4o', 'openai')).toEqual({ tokens: 10 + 4 + 3, method: 'tokenizer' })
    expect(countInputTokens([text], 'gpt-3.5-turbo', 'openai')).toEqual({
      tokens: 10 + 4 + 3,
      method: 'tokenizer',
    })
  })

  it('errs high where no tokenizer exists, and bounds the work on huge inputs', () => {
    const text = 'The quick brown fox jumps over the lazy dog.'
    const estimate = countInputTokens([text], 'claude-sonnet-4-6', 'anthropic')
    expect(estimate.method).toBe('estimate')
    expect(estimate.tokens).toBeGreaterThan(10 + 4 + 3)
    const huge = 'word '.repeat(100_000)
    expect(countInputTokens([huge], 'gpt-4o', 'openai')).toEqual({
      tokens: huge.length + 4 + 3,
      method: 'bytes',
    })
  })

  it('charges a cut stream at least one token once anything was produced', () => {
    expect(countOutputTokens('', 'gpt-4o', 'openai')).toBe(0)
    expect(countOutputTokens('a', 'claude-sonnet-4-6', 'anthropic')).toBe(1)
    expect(countOutputTokens('hello world', 'gpt-4o', 'openai')).toBe(2)
  })

  it('the byte bound is never below a count, whatever the text and the model (admission relies on it)', () => {
    const models = [
      ['gpt-4o-mini', 'openai'],
      ['gpt-3.5-turbo', 'openai'],
      ['claude-haiku-4-5', 'anthropic'],
      ['llama-3', 'openai-compatible'],
    ] as const
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 300 }), { maxLength: 6 }), (texts) => {
        for (const [model, provider] of models)
          expect(inputTokenBound(texts)).toBeGreaterThanOrEqual(
            countInputTokens(texts, model, provider).tokens,
          )
      }),
      { numRuns: 300 },
    )
    expect(inputTokenBound(['héllo', 'world'])).toBe(6 + 5 + 4 * 2 + 3)
  })
})
