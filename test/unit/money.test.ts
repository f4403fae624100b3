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
    ['1e3', 'scientific notation is not accepted; write 1000'],
    ['1.5E+3', 'scientific notation is not accepted; write 1500'],
    ['2.5e-5', 'scientific notation is not accepted; write 0.000025'],
    ['2.5e-6', 'more than 6 decimal places'],
    ['1e12', 'more than the maximum of $1,000,000,000.00'],
    ['$1e12', 'more than the maximum of $1,000,000,000.00'],
    ['1.0000000001e9', 'more than the maximum of $1,000,000,000.00'],
    ['1e999999999999', 'more than the maximum'],
    ['1e-999999999999', 'more than 6 decimal places'],
    ['-1e12', 'negative'],
    ['1e', 'not a number'],
    ['e5', 'not a number'],
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

  it.each([
    ['-2.50', -2_500_000],
    ['-$2.50', -2_500_000],
    ['$-2.50', -2_500_000],
    ['2.50', 2_500_000],
    ['-1000000000', -MAX_MICROS],
  ])('signed: %s → %d micros', (input, micros) => {
    expect(parseMoney(input, 'amount', { signed: true })).toBe(micros)
  })

  it.each([
    ['-1e12', "Invalid amount '-1e12': less than the minimum of -$1,000,000,000.00"],
    ['-1000000000.01', "Invalid amount '-1000000000.01': less than the minimum of -$1,000,000,000.00"],
    ['-1e3', "Invalid amount '-1e3': scientific notation is not accepted; write -1000"],
    ['--2', "Invalid amount '--2': not a number"],
  ])('signed: rejects %j quoting it with its sign', (input, message) => {
    expect(() => parseMoney(input, 'amount', { signed: true })).toThrow(message)
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
