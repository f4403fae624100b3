import { describe, expect, it } from 'vitest'
import { IronError } from '../../../src/core/errors.js'
import {
  CATEGORIES,
  DEFAULT_POLICY,
  enabledCategories,
  mergePolicy,
  parsePolicy,
  SECRET_CATEGORIES,
} from '../../../src/safety/index.js'

function usageErrorOf(fn: () => unknown): IronError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(IronError)
    const e = error as IronError
    expect(e.code).toBe('SAFETY_POLICY_INVALID')
    expect(e.exitCode).toBe(2)
    return e
  }
  throw new Error('expected a usage error')
}

describe('default policy', () => {
  it('covers every category in both directions', () => {
    for (const c of CATEGORIES) {
      expect(DEFAULT_POLICY.input[c], c).toBeDefined()
      expect(DEFAULT_POLICY.output[c], c).toBeDefined()
    }
    expect(DEFAULT_POLICY.injection_threshold).toBe(0.5)
  })

  it('blocks private keys and injections on input, redacts other secrets and sensitive PII, logs contact PII', () => {
    expect(DEFAULT_POLICY.input.private_key).toBe('block')
    expect(DEFAULT_POLICY.input.prompt_injection).toBe('block')
    expect(DEFAULT_POLICY.input.openai_key).toBe('redact')
    expect(DEFAULT_POLICY.input.card).toBe('redact')
    expect(DEFAULT_POLICY.input.email).toBe('log')
    expect(DEFAULT_POLICY.output.private_key).toBe('redact')
    expect(DEFAULT_POLICY.output.prompt_injection).toBe('log')
  })

  it('is frozen', () => {
    expect(Object.isFrozen(DEFAULT_POLICY)).toBe(true)
    expect(Object.isFrozen(DEFAULT_POLICY.input)).toBe(true)
  })
})

describe('parsePolicy', () => {
  it('fills missing keys from the defaults', () => {
    const p = parsePolicy({ input: { email: 'redact' } })
    expect(p.input.email).toBe('redact')
    expect(p.input.card).toBe(DEFAULT_POLICY.input.card)
    expect(p.output).toEqual(DEFAULT_POLICY.output)
    expect(parsePolicy({})).toEqual(DEFAULT_POLICY)
    expect(parsePolicy(undefined)).toEqual(DEFAULT_POLICY)
  })

  it('accepts a JSON string', () => {
    expect(
      parsePolicy('{"output": {"prompt_injection": "block"}, "injection_threshold": 0.7}'),
    ).toMatchObject({
      output: { prompt_injection: 'block' },
      injection_threshold: 0.7,
    })
  })

  it('expands groups; single categories win over groups, groups over all, whatever the order', () => {
    const p = parsePolicy({ input: { openai_key: 'log', secret: 'block', all: 'off' } })
    expect(p.input.openai_key).toBe('log')
    expect(p.input.github_token).toBe('block')
    expect(p.input.email).toBe('off')
    const q = parsePolicy({ output: { pii: 'redact' } })
    expect(q.output.email).toBe('redact')
    expect(q.output.ip_address).toBe('redact')
    expect(q.output.openai_key).toBe(DEFAULT_POLICY.output.openai_key)
  })

  it('names an unknown category, with a suggestion', () => {
    const e = usageErrorOf(() => parsePolicy({ input: { emial: 'redact' } }))
    expect(e.message).toBe("Unknown category 'emial' in safety policy 'input'. Did you mean 'email'?")
    expect(e.details).toEqual({ key: 'input.emial' })
    expect(e.hint).toContain('prompt_injection')
  })

  it('names an invalid action and the key it was given for', () => {
    const e = usageErrorOf(() => parsePolicy({ output: { card: 'redcat' } }))
    expect(e.message).toBe(
      "Invalid action \"redcat\" for 'output.card': expected one of block, redact, log, off. Did you mean 'redact'?",
    )
    expect(usageErrorOf(() => parsePolicy({ output: { card: true } })).message).toContain("for 'output.card'")
  })

  it('rejects unknown top-level keys, non-objects, bad thresholds and bad JSON', () => {
    expect(usageErrorOf(() => parsePolicy({ inputs: {} })).message).toBe(
      "Unknown safety policy key 'inputs'. Did you mean 'input'?",
    )
    expect(usageErrorOf(() => parsePolicy({ input: ['email'] })).message).toContain('must be an object')
    expect(usageErrorOf(() => parsePolicy([])).message).toContain('must be a JSON object')
    for (const t of [0, -1, 1.5, 'high', Number.NaN]) {
      expect(usageErrorOf(() => parsePolicy({ injection_threshold: t })).message).toContain(
        'injection_threshold',
      )
    }
    expect(usageErrorOf(() => parsePolicy('{"input": ')).message).toContain('not valid JSON')
  })
})

describe('mergePolicy', () => {
  it('returns a new policy and leaves the base alone', () => {
    const base = parsePolicy({})
    const merged = mergePolicy(base, { input: { secret: 'block' }, injection_threshold: 0.8 })
    for (const c of SECRET_CATEGORIES) expect(merged.input[c]).toBe('block')
    expect(merged.injection_threshold).toBe(0.8)
    expect(base.input.openai_key).toBe('redact')
  })

  it('validates the change', () => {
    expect(() => mergePolicy(DEFAULT_POLICY, { input: { nope: 'block' } as never })).toThrow(IronError)
  })
})

describe('enabledCategories', () => {
  it('lists the categories a direction does not switch off', () => {
    const p = parsePolicy({ output: { all: 'off', email: 'log' } })
    expect([...enabledCategories(p, 'output')]).toEqual(['email'])
    expect(enabledCategories(p, 'input').size).toBe(CATEGORIES.length)
  })
})
