import { describe, expect, it } from 'vitest'
import { budgetMoney } from '../../src/cli/views.js'
import { formatMoney } from '../../src/core/money.js'

// Budget figures are read as a sum (spent + in flight + available = limit): no decimal may be dropped.
describe('budget figures', () => {
  it.each([
    [49_999_600, '$49.9996'],
    [50_000_000, '$50.00'],
    [2_499_600, '$2.4996'],
    [400, '$0.0004'],
    [0, '$0.00'],
    [1_234_567_890_123, '$1,234,567.890123'],
    [-2_500_400, '-$2.5004'],
  ])('%i micros print as %s', (micros, shown) => {
    expect(budgetMoney(micros)).toBe(shown)
  })

  it('where formatMoney alone drops the sub-cent part', () => {
    expect(formatMoney(49_999_600)).toBe('$49.99')
  })
})
