import { usageError } from './errors.js'

/** Money is integer micro-USD everywhere: 1 USD = 1,000,000 micros. */
export const MICROS_PER_USD = 1_000_000
/** Largest amount iron accepts: $1,000,000,000 (well inside Number.MAX_SAFE_INTEGER micros). */
export const MAX_MICROS = 1_000_000_000 * MICROS_PER_USD

export interface MoneyOptions {
  /** Largest accepted value in micros (default MAX_MICROS). */
  max?: number
  /** Error code (default INVALID_MONEY). */
  code?: string
  hint?: string
  /** Unit written after the maximum in the error, e.g. ' per 1M tokens'. */
  unit?: string
}

const MONEY_RE = /^\$?(\d{1,3}(?:,\d{3})+|\d+)?(?:\.(\d+))?$/

/**
 * Parse an amount typed by a person: `50`, `50.25`, `$50`, `$1,000.5`. Returns integer micros.
 * Rejects negatives, NaN, more than 6 decimals and absurd values with a clear usage error.
 */
export function parseMoney(input: string | number, what = 'amount', options: MoneyOptions = {}): number {
  const raw = String(input).trim()
  const max = options.max ?? MAX_MICROS
  const fail = (reason: string) =>
    usageError(
      options.code ?? 'INVALID_MONEY',
      `Invalid ${what} '${raw}': ${reason}`,
      options.hint ?? `Write an amount in US dollars, e.g. 50, 50.25 or '$50'`,
    )
  if (raw === '') throw fail('it is empty')
  if (raw.startsWith('-') || raw.startsWith('$-')) throw fail(`a ${what} cannot be negative`)
  const match = MONEY_RE.exec(raw)
  if (!match || (match[1] === undefined && match[2] === undefined)) throw fail('not a number')
  const whole = (match[1] ?? '0').replaceAll(',', '')
  const fraction = match[2] ?? ''
  if (fraction.length > 6) throw fail('more than 6 decimal places (the smallest unit is $0.000001)')
  const tooMuch = `more than the maximum of ${formatMoney(max)}${options.unit ?? ''}`
  if (whole.replace(/^0+/, '').length > 10) throw fail(tooMuch)
  const micros = Number(whole) * MICROS_PER_USD + Number(fraction.padEnd(6, '0'))
  if (!Number.isSafeInteger(micros) || micros > max) throw fail(tooMuch)
  return micros
}

/** Validate an integer micro-USD amount from JSON or the database. */
export function assertMicros(value: unknown, what = 'amount'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_MICROS) {
    throw usageError(
      'INVALID_MONEY',
      `Invalid ${what}: expected a whole number of micro-USD between 0 and ${MAX_MICROS}`,
    )
  }
  return value
}

/**
 * `$50.25`; amounts below a cent keep their significant decimals (`$0.0042`), up to 6.
 * Thousands are grouped (`$1,250.00`). Negative amounts (adjustments) print as `-$1.00`.
 */
export function formatMoney(micros: number): string {
  const sign = micros < 0 ? '-' : ''
  const abs = Math.abs(Math.trunc(micros))
  const whole = Math.floor(abs / MICROS_PER_USD)
  const digits = String(abs % MICROS_PER_USD).padStart(6, '0')
  // Whole dollars show cents; amounts under a dollar keep their significant decimals.
  const fraction = whole > 0 ? digits.slice(0, 2) : digits.replace(/0+$/, '').padEnd(2, '0')
  return `${sign}$${whole.toLocaleString('en-US')}.${fraction}`
}
