import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { formatMoney, MAX_MICROS, parseMoney } from '../../src/core/money.js'

describe('parseMoney', () => {
  it.each([
    ['50', 50_000_000],
    ['50.25', 50_250_000],
    ['$50', 50_000_000],
    [' $1,000.5 ', 1_000_500_000],
    ['.5', 500_000],
    ['0.000001', 1],
    ['0', 0],
    ['1000000000', MAX_MICROS],
  ])('%s → %d micros', (input, micros) => {
    expect(parseMoney(input)).toBe(micros)
  })

  it.each([
    ['-5', 'negative'],
    ['$-5', 'negative'],
    ['abc', 'not a number'],
    ['NaN', 'not a number'],
    ['1e3', 'not a number'],
    ['', 'empty'],
    ['1.0000001', 'more than 6 decimal places'],
    ['1000000000.01', 'maximum'],
    ['99999999999999999999', 'maximum'],
    ['1,00', 'not a number'],
    ['$', 'not a number'],
  ])('rejects %j (%s) as a usage error', (input, reason) => {
    try {
      parseMoney(input, 'limit')
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(IronError)
      expect((error as IronError).exitCode).toBe(2)
      expect((error as IronError).message).toContain(reason)
      expect((error as IronError).message).toContain('limit')
    }
  })

  it('round-trips through formatMoney for whole cents', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (cents) => {
        const micros = cents * 10_000
        expect(parseMoney(formatMoney(micros))).toBe(micros)
      }),
    )
  })
})

describe('formatMoney', () => {
  it.each([
    [50_250_000, '$50.25'],
    [0, '$0.00'],
    [1_234_500_000, '$1,234.50'],
    [4_200, '$0.0042'],
    [1, '$0.000001'],
    [10_000, '$0.01'],
    [150_000, '$0.15'],
    [-1_000_000, '-$1.00'],
  ])('%d → %s', (micros, text) => {
    expect(formatMoney(micros)).toBe(text)
  })
})
