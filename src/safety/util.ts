import { createHash } from 'node:crypto'

/** Hex SHA-256 of a string's UTF-8 bytes (lone surrogates are encoded as U+FFFD, never thrown on). */
export const sha256Hex = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex')

/** ASCII class tables, indexed by char code (codes ≥ 128 are in no class). */
function table(chars: string, ranges: [string, string][] = []): Uint8Array {
  const t = new Uint8Array(128)
  for (const c of chars) t[c.charCodeAt(0)] = 1
  for (const [a, b] of ranges) for (let c = a.charCodeAt(0); c <= b.charCodeAt(0); c++) t[c] = 1
  return t
}
const ALNUM: [string, string][] = [
  ['a', 'z'],
  ['A', 'Z'],
  ['0', '9'],
]
export const WORD = table('_', ALNUM)
export const ALNUM_T = table('', ALNUM)
export const DIGIT = table('', [['0', '9']])
export const HEX = table('', [
  ['0', '9'],
  ['a', 'f'],
  ['A', 'F'],
])
/** Characters that can be part of a whitespace-free token such as a key, a URL or an email address. */
export const TOKEN = table('_-.+/=:@%~', ALNUM)

export const inClass = (t: Uint8Array, code: number): boolean => code < 128 && t[code] === 1
export const isWordAt = (text: string, i: number): boolean =>
  i >= 0 && i < text.length && inClass(WORD, text.charCodeAt(i))
export const isDigitCode = (code: number): boolean => code >= 48 && code <= 57
export const isDigitAt = (text: string, i: number): boolean =>
  i >= 0 && i < text.length && isDigitCode(text.charCodeAt(i))
export const isAlnumAt = (text: string, i: number): boolean =>
  i >= 0 && i < text.length && inClass(ALNUM_T, text.charCodeAt(i))

/** Shannon entropy in bits per character. */
export function shannonEntropy(value: string): number {
  if (value.length === 0) return 0
  const counts = new Map<number, number>()
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    counts.set(c, (counts.get(c) ?? 0) + 1)
  }
  let h = 0
  for (const n of counts.values()) {
    const p = n / value.length
    h -= p * Math.log2(p)
  }
  return h
}

/** Which of lower, upper, digit, other a string contains (a count 0..4). */
export function charClasses(value: string): number {
  let lower = 0
  let upper = 0
  let digit = 0
  let other = 0
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c >= 97 && c <= 122) lower = 1
    else if (c >= 65 && c <= 90) upper = 1
    else if (c >= 48 && c <= 57) digit = 1
    else other = 1
  }
  return lower + upper + digit + other
}

/** True when a random-looking token body has lower, upper and digit characters (real keys almost always do). */
export function hasMixedCase(value: string): boolean {
  let lower = false
  let upper = false
  let digit = false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c >= 97 && c <= 122) lower = true
    else if (c >= 65 && c <= 90) upper = true
    else if (c >= 48 && c <= 57) digit = true
  }
  return lower && upper && digit
}

/** Number of distinct characters (a cheap guard against `xxxxxxxx` placeholders). */
export function distinctChars(value: string): number {
  return new Set(value).size
}

/** Luhn check over a string of ASCII digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0
  let double = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (d < 0 || d > 9) return false
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    double = !double
  }
  return digits.length > 0 && sum % 10 === 0
}

/** ISO 13616 check: rearranged, letters to numbers, mod 97 must be 1. Expects uppercase alphanumerics. */
export function ibanMod97(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4)
  let rem = 0
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i)
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97
    else return false
  }
  return rem === 1
}

/** Decodes standard or URL-safe base64 to a latin1 string ('' when the input is not base64). */
export function decodeBase64(value: string): string {
  return Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64').toString(
    'latin1',
  )
}

/** Share of printable ASCII characters (plus tab, newline) in a decoded byte string. */
export function printableRatio(value: string): number {
  if (value.length === 0) return 0
  let ok = 0
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if ((c >= 32 && c < 127) || c === 9 || c === 10 || c === 13) ok++
  }
  return ok / value.length
}
