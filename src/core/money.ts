import { usageError } from './errors.js'

/** Money is integer micro-USD everywhere: 1 USD = 1,000,000 micros. */
export const MICROS_PER_USD = 1_000_000
/** Largest amount iron accepts: $1,000,000,000 (well inside Number.MAX_SAFE_INTEGER micros). */
export const MAX_MICROS = 1_000_000_000 * MICROS_PER_USD

export interface MoneyOptions {
  /** Largest accepted value in micros (default MAX_MICROS); with `signed`, the largest either way. */
  max?: number
  /** Error code (default INVALID_MONEY). */
  code?: string
  hint?: string
  /** Unit written after the maximum in the error, e.g. ' per 1M tokens'. */
  unit?: string
  /** Accept a leading minus (`-2.50`, `-$2.50`, `$-2.50`) and return negative micros. */
  signed?: boolean
}

const MONEY_RE = /^(\d{1,3}(?:,\d{3})+|\d+)?(?:\.(\d+))?$/
const SCIENTIFIC_RE = /^(\d*)(?:\.(\d*))?e([+-]?\d+)$/i
const MINUS_RE = /^(?:-\$?|\$-)/
/** Whole-dollar digits beyond which an amount is over any maximum ($9,999,999,999 > MAX_MICROS). */
const MAX_WHOLE_DIGITS = 10

/**
 * Parse an amount typed by a person: `50`, `50.25`, `$50`, `$1,000.5` (and, when `signed`, `-2.50`).
 * Returns integer micros. Rejects negatives (unless signed), NaN, more than 6 decimals and absurd values
 * with a clear usage error that quotes the input as typed, sign included.
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
  const minus = MINUS_RE.exec(raw)
  if (minus && !options.signed) throw fail(`a ${what} cannot be negative`)
  const body = minus ? raw.slice(minus[0].length) : raw.replace(/^\$/, '')
  const sign = minus ? -1 : 1
  const tooMuch = () =>
    fail(
      sign < 0
        ? `less than the minimum of ${formatMoney(-max)}${options.unit ?? ''}`
        : `more than the maximum of ${formatMoney(max)}${options.unit ?? ''}`,
    )
  const scientific = SCIENTIFIC_RE.exec(body)
  if (scientific) {
    // 1e12 is a number, just not a form iron takes: say what is wrong with its value, or how to write it.
    const written = writtenOut(scientific[1] ?? '', scientific[2] ?? '', scientific[3]!)
    if (written === 'too large') throw tooMuch()
    if (written === 'too precise') throw fail(TOO_PRECISE)
    if (written) {
      const micros = parsePlain(written.plain)
      if (micros === undefined || micros > max) throw tooMuch()
      throw fail(`scientific notation is not accepted; write ${minus ? '-' : ''}${written.plain}`)
    }
  }
  const match = MONEY_RE.exec(body)
  if (!match || (match[1] === undefined && match[2] === undefined)) throw fail('not a number')
  if ((match[2] ?? '').length > 6) throw fail(TOO_PRECISE)
  const micros = parsePlain(`${(match[1] ?? '0').replaceAll(',', '')}.${match[2] ?? ''}`)
  if (micros === undefined || micros > max) throw tooMuch()
  return micros === 0 ? 0 : sign * micros
}

const TOO_PRECISE = 'more than 6 decimal places (the smallest unit is $0.000001)'

/** Micros of `123.456` (at most 6 decimals), or undefined beyond what iron could ever accept. */
function parsePlain(text: string): number | undefined {
  const [whole = '', fraction = ''] = text.split('.')
  const digits = whole.replace(/^0+/, '')
  if (digits.length > MAX_WHOLE_DIGITS) return undefined
  const micros = Number(digits || '0') * MICROS_PER_USD + Number(fraction.padEnd(6, '0'))
  return Number.isSafeInteger(micros) ? micros : undefined
}

/**
 * `1.5e3` written out (`1500`), without building huge strings: an exponent that puts more whole digits
 * than any maximum allows, or more than 6 decimals, is reported as such. Undefined when there are no digits.
 */
function writtenOut(
  whole: string,
  fraction: string,
  exponent: string,
): { plain: string } | 'too large' | 'too precise' | undefined {
  if (whole === '' && fraction === '') return undefined
  let digits = `${whole}${fraction}`
  // The decimal point sits after `point` digits of `digits`.
  let point = whole.length + Number(exponent)
  const leading = digits.length - digits.replace(/^0+/, '').length
  digits = digits.slice(leading).replace(/0+$/, '')
  point -= leading
  if (digits === '') return { plain: '0' }
  if (point > MAX_WHOLE_DIGITS) return 'too large'
  if (digits.length - point > 6) return 'too precise'
  if (point >= digits.length) return { plain: digits + '0'.repeat(point - digits.length) }
  if (point > 0) return { plain: `${digits.slice(0, point)}.${digits.slice(point)}` }
  return { plain: `0.${'0'.repeat(-point)}${digits}` }
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
