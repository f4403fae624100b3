import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { ID_PREFIXES, idTime, isId, newId, parseId } from '../../src/core/ids.js'

describe('ids', () => {
  it('have a prefix and 26 lowercase Crockford base32 characters', () => {
    for (const prefix of ID_PREFIXES) {
      const id = newId(prefix)
      expect(id).toMatch(new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`))
      expect(isId(id, prefix)).toBe(true)
    }
  })

  it('sort by creation time, also within one millisecond', () => {
    const ids = Array.from({ length: 2_000 }, () => newId('req', 1_700_000_000_000))
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(ids.length)
    const later = newId('req', 1_700_000_000_001)
    expect(later > ids.at(-1)!).toBe(true)
  })

  it('encode their time', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (ms) => {
        expect(idTime(newId('agent', ms))).toBe(ms)
      }),
    )
  })

  it('parse case-insensitively and reject anything else, naming the expected form', () => {
    const id = newId('agent')
    expect(parseId(id.toUpperCase().replace('AGENT_', 'agent_'), 'agent')).toBe(id)
    for (const bad of [
      'agent_123',
      `prov_${id.slice(6)}`,
      `${id}x`,
      'agent_01jd8x4k3m5n6p7q8r9s0t1v2u',
      '',
    ]) {
      try {
        parseId(bad, 'agent')
        expect.unreachable(bad)
      } catch (error) {
        expect(error).toBeInstanceOf(IronError)
        expect((error as IronError).exitCode).toBe(2)
        expect((error as IronError).message).toContain('expected agent_ followed by 26 base32 characters')
      }
    }
  })
})
