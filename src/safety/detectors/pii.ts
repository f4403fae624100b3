/**
 * Personal data: email, phone, US SSN, payment card, IBAN, IP address.
 *
 * False alarms are kept down by validation, not by loose patterns: Luhn + issuer prefix + length for cards,
 * mod-97 + per-country length for IBANs, SSA ranges for SSNs, octet ranges for IPv4, the RFC 4291 group
 * grammar for IPv6, digit counts and separator structure for phones. Every regex is bounded or has a single
 * way to match each character, so scanning is linear in the text length.
 */
import { DIGIT, HEX, ibanMod97, inClass, isAlnumAt, isDigitAt, isWordAt, luhnValid } from '../util.js'
import { type DetectContext, type Detector, type RawFinding, wants } from './detector.js'
import { keywordHits, positionsOf, registerKeywords } from './keywords.js'

// ---------------------------------------------------------------------------------------------------- email

const LOCAL = new Uint8Array(128)
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'")
  LOCAL[c.charCodeAt(0)] = 1
const DOMAIN = new Uint8Array(128)
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-')
  DOMAIN[c.charCodeAt(0)] = 1
/** "TLDs" that are really file extensions (`icon@2x.png`, `lib@1.0.js`). */
const FILE_EXTENSIONS = new Set(
  'png jpg jpeg gif svg webp ico bmp tif tiff js mjs cjs ts tsx jsx json css scss less html htm map lock yaml yml toml txt log xml csv pdf zip gz tgz wasm vue'.split(
    ' ',
  ),
)
const TLD_RE = /^(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9-]{2,59})$/
const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

function validDomain(domain: string): boolean {
  const labels = domain.split('.')
  if (labels.length < 2) return false
  const tld = labels[labels.length - 1]!
  if (!TLD_RE.test(tld) || FILE_EXTENSIONS.has(tld.toLowerCase())) return false
  for (const label of labels) if (!LABEL_RE.test(label)) return false
  return true
}

function detectEmails(text: string, out: RawFinding[]): void {
  let floor = 0
  let at = text.indexOf('@')
  while (at !== -1) {
    let next = at + 1
    const minStart = Math.max(floor, at - 64)
    let s = at
    while (s > minStart && inClass(LOCAL, text.charCodeAt(s - 1))) s--
    const tooLong = s === at - 64 && s > floor && inClass(LOCAL, text.charCodeAt(s - 1))
    while (s < at && (text.charCodeAt(s) === 46 || text.charCodeAt(s) === 39)) s++ // no leading '.' or quote
    const prev = s > 0 ? text.charCodeAt(s - 1) : 32
    const okPrev =
      prev !== 47 /* / */ &&
      prev !== 64 /* @ */ &&
      (prev !== 58 /* : */ || text.slice(Math.max(0, s - 7), s).toLowerCase() === 'mailto:')
    if (!tooLong && s < at && text.charCodeAt(at - 1) !== 46 && okPrev) {
      const maxEnd = Math.min(text.length, at + 1 + 253)
      let e = at + 1
      while (e < maxEnd && inClass(DOMAIN, text.charCodeAt(e))) e++
      const domainTooLong = e === maxEnd && e < text.length && inClass(DOMAIN, text.charCodeAt(e))
      while (e > at + 1 && (text.charCodeAt(e - 1) === 46 || text.charCodeAt(e - 1) === 45)) e--
      const local = text.slice(s, at)
      if (
        !domainTooLong &&
        e > at + 1 &&
        text.charCodeAt(e) !== 64 &&
        local !== 'git' &&
        !local.includes('..') &&
        validDomain(text.slice(at + 1, e))
      ) {
        out.push({ category: 'email', start: s, end: e, confidence: 0.95 })
        floor = e
        next = e
      }
    }
    at = text.indexOf('@', next)
  }
}

// ---------------------------------------------------------------------------------------------------- phone

/** Parses digit groups separated by one of ` .-` or parentheses from i; null when it is not phone-shaped. */
function parseDigitGroups(
  text: string,
  i: number,
  maxDigits: number,
): { end: number; digits: string; groups: number; longest: number } | null {
  let digits = ''
  let groups = 0
  let longest = 0
  let end = i
  for (;;) {
    const c = text.charCodeAt(i)
    if (c === 40 /* ( */) {
      let j = i + 1
      while (j < text.length && j - i <= 5 && isDigitAt(text, j)) j++
      if (j === i + 1 || text.charCodeAt(j) !== 41 /* ) */) break
      const inner = text.slice(i + 1, j)
      if (inner !== '0') {
        digits += inner
        groups++
        longest = Math.max(longest, inner.length)
      }
      i = j + 1
    } else if (c >= 48 && c <= 57) {
      let j = i
      while (j < text.length && inClass(DIGIT, text.charCodeAt(j))) j++
      digits += text.slice(i, j)
      groups++
      longest = Math.max(longest, j - i)
      i = j
    } else break
    end = i
    if (digits.length > maxDigits || groups > 8) return null
    const sep = text.charCodeAt(i)
    if (
      (sep === 32 || sep === 46 || sep === 45) &&
      (isDigitAt(text, i + 1) || text.charCodeAt(i + 1) === 40)
    ) {
      i++
      continue
    }
    if (sep === 40 || (sep >= 48 && sep <= 57)) continue
    break
  }
  if (groups === 0) return null
  return { end, digits, groups, longest }
}

/** A phone must not run into a word, a decimal, a percentage or another number. */
function phoneEndOk(text: string, end: number): boolean {
  const c = text.charCodeAt(end)
  if (isWordAt(text, end) || c === 37 /* % */ || c === 43 /* + */) return false
  if ((c === 46 || c === 45 || c === 47 || c === 58) && isDigitAt(text, end + 1)) return false
  return true
}

function detectInternationalPhones(text: string, out: RawFinding[]): void {
  for (let p = text.indexOf('+'); p !== -1; p = text.indexOf('+', p + 1)) {
    const first = text.charCodeAt(p + 1)
    if (first < 49 || first > 57) continue // country codes start with 1-9
    const prev = p > 0 ? text.charCodeAt(p - 1) : 32
    if (isWordAt(text, p - 1) || prev === 41 || prev === 43 || prev === 46 || prev === 45) continue
    let max = 15
    if (first === 49 /* +1: NANP, exactly 11 digits */ && !isDigitAt(text, p + 2)) max = 11
    const g = parseDigitGroups(text, p + 1, max)
    if (!g || !phoneEndOk(text, g.end)) continue
    const n = g.digits.length
    if (max === 11 && n !== 11) continue
    if (g.groups === 1 ? n < 10 : n < 8) continue
    out.push({ category: 'phone', start: p, end: g.end, confidence: 0.9 })
    p = g.end - 1
  }
}

// One pass for the national formats without a country code:
// - North American: (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199. Separators are required: ten
//   bare digits are as likely to be an ID.
// - French pairs: 06 12 34 56 78, 01.42.68.53.00.
// - UK trunk formats: 020 7946 0958, 0161 496 0000, 07700 900123 (10 or 11 digits, checked below).
const NATIONAL_PHONE_RE =
  /(?<![\w.+\-(/])(?:(?:1[ .-]?)?(?:\(([2-9]\d\d)\)[ .-]?|([2-9]\d\d)[ .-])([2-9]\d\d)[ .-]\d{4}(?![\w%]|[.\-/:]\d)|(0[1-9]([ .])\d\d(?:\5\d\d){3})(?![\w%]|[.\-/:]\d| \d)|(0\d{2,4} \d{3,6}(?: \d{3,4})?)(?![\w%]|[.\-/:]\d| \d))/g
// "phone: ...", "tel.", "call me at", ... then any 7-15 digit grouping. The words come from the shared keyword
// pass; this sticky regex reads the label at each of them.
const PHONE_WORDS = [
  'phone',
  'telephone',
  'tel',
  'mobile',
  'cell',
  'cellphone',
  'fax',
  'whatsapp',
  'landline',
  'call me at',
  'call me on',
  'call us at',
  'call us on',
]
registerKeywords(PHONE_WORDS)
const PHONE_LABEL_RE =
  /(?:phone|telephone|tel|mobile|cell|cellphone|fax|whatsapp|landline|call\s{1,3}(?:me|us)\s{1,3}(?:at|on))\b\.?(?:\s{0,3}(?:no|nr|number|num|#)\.?)?[\s:#-]{0,4}/iy

const isN11 = (code: string): boolean => code[1] === '1' && code[2] === '1'

function detectNationalPhones(text: string, ctx: DetectContext, out: RawFinding[]): void {
  NATIONAL_PHONE_RE.lastIndex = 0
  for (let m = NATIONAL_PHONE_RE.exec(text); m; m = NATIONAL_PHONE_RE.exec(text)) {
    const start = m.index
    const end = start + m[0].length
    if (m[3] !== undefined) {
      // North American
      if (isN11(m[1] ?? m[2]!) || isN11(m[3])) continue
      out.push({ category: 'phone', start, end, confidence: 0.85 })
    } else if (m[4] !== undefined) {
      out.push({ category: 'phone', start, end, confidence: 0.7 })
    } else {
      const n = m[0].replaceAll(' ', '').length
      if (n === 10 || n === 11) out.push({ category: 'phone', start, end, confidence: 0.7 })
    }
  }
  let done = 0
  for (const k of positionsOf(keywordHits(text, ctx), PHONE_WORDS)) {
    if (k < done) continue
    PHONE_LABEL_RE.lastIndex = k
    if (!PHONE_LABEL_RE.test(text)) continue
    let p = PHONE_LABEL_RE.lastIndex
    const start = p
    if (text.charCodeAt(p) === 43) p++
    if (!isDigitAt(text, p) && text.charCodeAt(p) !== 40) continue
    const g = parseDigitGroups(text, p, 15)
    if (!g || g.digits.length < 7 || !phoneEndOk(text, g.end)) continue
    out.push({ category: 'phone', start, end: g.end, confidence: 0.8 })
    done = g.end
  }
}

// ---------------------------------------------------------------------------------------------------- SSN

const SSN_RE = /(?<![\w.\-/])(\d{3})-(\d{2})-(\d{4})(?![\w%]|[.\-/:]\d)/g
const SSN_WORDS = ['ssn', 'ss#', 'social security', 'soc sec', 'soc. sec']
registerKeywords(SSN_WORDS)
const SSN_LABEL_RE =
  /(?:ssn|ss#|social\s{1,3}security(?:\s{1,3}(?:number|no\.?|#))?|soc\.?\s{1,3}sec\.?(?:\s{1,3}no\.?)?)(?![A-Za-z])[\s:#.\-=]{0,4}(?:is\s{1,3})?/iy
const SSN_LOOSE_RE = /(\d{3})([ -]?)(\d{2})\2(\d{4})(?![\w%]|[.\-/:]\d| \d)/y
const SSN_SAMPLES = new Set(['078051120', '219099999'])

/** SSA rules: area 001-899 except 666, group 01-99, serial 0001-9999, and not the famous published samples. */
export function ssnValid(area: string, group: string, serial: string): boolean {
  if (area === '000' || area === '666' || area[0] === '9') return false
  if (group === '00' || serial === '0000') return false
  return !SSN_SAMPLES.has(area + group + serial)
}

function detectSsns(text: string, ctx: DetectContext, out: RawFinding[]): void {
  SSN_RE.lastIndex = 0
  for (let m = SSN_RE.exec(text); m; m = SSN_RE.exec(text)) {
    if (ssnValid(m[1]!, m[2]!, m[3]!))
      out.push({ category: 'ssn', start: m.index, end: m.index + m[0].length, confidence: 0.85 })
  }
  // Spaced or bare nine digits only right after an "SSN:"-style label.
  for (const k of positionsOf(keywordHits(text, ctx), SSN_WORDS)) {
    SSN_LABEL_RE.lastIndex = k
    if (!SSN_LABEL_RE.test(text)) continue
    const p = SSN_LABEL_RE.lastIndex
    if (isDigitAt(text, p - 1)) continue
    SSN_LOOSE_RE.lastIndex = p
    const s = SSN_LOOSE_RE.exec(text)
    if (s && s[2] !== '-' && ssnValid(s[1]!, s[3]!, s[4]!))
      out.push({ category: 'ssn', start: p, end: p + s[0].length, confidence: 0.8 })
  }
}

// ---------------------------------------------------------------------------------------------------- card

// The start of 13+ digits with single space or dash separators, beginning with four digits as every card layout
// does (bounded, so V8 never needs a deep backtrack stack; and the four digits make it about twice as fast). The
// cluster is then extended by hand, split into separator-delimited groups and windows of them checked.
const CARD_START_RE = /(?<![\w.,])\d\d\d\d(?:[ -]?\d){9}/g

/** Issuer (IIN) prefixes and the lengths each issues. */
export function cardBrandOk(d: string): boolean {
  const n = d.length
  const p2 = Number(d.slice(0, 2))
  const p3 = Number(d.slice(0, 3))
  const p4 = Number(d.slice(0, 4))
  const p6 = Number(d.slice(0, 6))
  if (d[0] === '4') return n === 13 || n === 16 || n === 19 // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16 // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15 // American Express
  if (p4 >= 2200 && p4 <= 2204) return n >= 16 && n <= 19 // Mir
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19 // JCB
  if ((p3 >= 300 && p3 <= 305) || p4 === 3095 || p2 === 36 || p2 === 38 || p2 === 39)
    return n >= 14 && n <= 19 // Diners
  if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65 || (p6 >= 622126 && p6 <= 622925))
    return n >= 16 && n <= 19 // Discover
  if (p2 === 62 || p2 === 81) return n >= 16 && n <= 19 // UnionPay
  if (p2 === 50 || (p2 >= 56 && p2 <= 69)) return n >= 13 && n <= 19 // Maestro
  if (p2 === 60 || p2 === 82 || p3 === 508 || p3 === 353 || p3 === 356) return n === 16 // RuPay
  return false
}

function cardLayoutOk(lens: number[]): boolean {
  if (lens.length === 1) return true
  const last = lens[lens.length - 1]!
  if (lens.length === 3 && lens[0] === 4 && lens[1] === 6 && (last === 5 || last === 4)) return true // Amex, Diners
  for (let i = 0; i < lens.length - 1; i++) if (lens[i] !== 4) return false
  return last >= 1 && last <= 4
}

function cardEndOk(text: string, end: number): boolean {
  const c = text.charCodeAt(end)
  if (isWordAt(text, end)) return false
  return !((c === 46 || c === 44 || c === 45) && isDigitAt(text, end + 1))
}

/** Whether groups g..h (h > g) can still be the leading groups of a card layout (4-4-4-4..., 4-6-5, 4-6-4). */
function cardPrefixOk(lens: readonly number[], g: number, h: number): boolean {
  const prev = lens[h - 1]!
  if (prev === 4) return h - 1 === g || lens[g] === 4
  return prev === 6 && h - 1 === g + 1 && lens[g] === 4
}

function detectCards(text: string, out: RawFinding[]): void {
  CARD_START_RE.lastIndex = 0
  const lens: number[] = []
  for (let m = CARD_START_RE.exec(text); m; m = CARD_START_RE.exec(text)) {
    // Extend the cluster: digits and single separators between digits.
    let end = m.index + m[0].length
    for (;;) {
      if (isDigitAt(text, end)) end++
      else if ((text.charCodeAt(end) === 32 || text.charCodeAt(end) === 45) && isDigitAt(text, end + 1))
        end += 2
      else break
    }
    CARD_START_RE.lastIndex = end
    // Windows of consecutive groups starting at each group: at most 19 digits, so each window is short.
    let gs = m.index
    while (gs < end) {
      let ge = gs
      while (ge < end && isDigitAt(text, ge)) ge++
      let best = -1
      let count = 0
      lens.length = 0
      const sep = text.charCodeAt(ge)
      for (let hs = gs, he = ge; ; ) {
        lens.push(he - hs)
        const h = lens.length - 1
        if (h > 0 && !cardPrefixOk(lens, 0, h)) break
        count += he - hs
        if (count > 19) break
        if (count >= 13) {
          const digits = text.slice(gs, he).replace(/[ -]/g, '')
          if (
            cardLayoutOk(lens) &&
            cardBrandOk(digits) &&
            luhnValid(digits) &&
            cardEndOk(text, he) &&
            !isDigitAt(text, gs - 1)
          )
            best = he
        }
        if (he >= end || text.charCodeAt(he) !== sep) break
        hs = he + 1
        he = hs
        while (he < end && isDigitAt(text, he)) he++
      }
      if (best >= 0) {
        out.push({ category: 'card', start: gs, end: best, confidence: 0.95 })
        gs = best + 1
      } else gs = ge + 1
    }
  }
}

// ---------------------------------------------------------------------------------------------------- IBAN

/** IBAN length per country (SWIFT IBAN registry). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BI: 27,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DJ: 27,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FK: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HN: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  LY: 25,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MN: 20,
  MR: 27,
  MT: 31,
  MU: 30,
  NI: 28,
  NL: 18,
  NO: 15,
  OM: 23,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  RU: 33,
  SA: 24,
  SC: 31,
  SD: 18,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  SO: 23,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
  YE: 30,
}

const IBAN_GATE_RE = /(?<![A-Za-z0-9])[A-Z]{2}\d\d/g
const ANY_DIGIT_RE = /\d/
const isIbanChar = (code: number): boolean => (code >= 48 && code <= 57) || (code >= 65 && code <= 90)

function detectIbans(text: string, out: RawFinding[]): void {
  // Every match of the gate holds a digit: without one, a text has no IBAN (one native search).
  if (!ANY_DIGIT_RE.test(text)) return
  IBAN_GATE_RE.lastIndex = 0
  for (let m = IBAN_GATE_RE.exec(text); m; m = IBAN_GATE_RE.exec(text)) {
    const p = m.index
    const len = IBAN_LENGTHS[text.slice(p, p + 2)]
    if (len === undefined) continue
    // Compact form.
    let e = p
    while (e < text.length && e - p <= len && isIbanChar(text.charCodeAt(e))) e++
    let end = -1
    let value = ''
    if (e - p === len && !isAlnumAt(text, e)) {
      end = e
      value = text.slice(p, e)
    } else if (e - p === 4 && text.charCodeAt(e) === 32) {
      // Groups of four separated by single spaces, the last one shorter.
      value = text.slice(p, e)
      let i = e
      while (value.length < len && text.charCodeAt(i) === 32) {
        let j = i + 1
        while (j < text.length && j - i <= 4 && isIbanChar(text.charCodeAt(j))) j++
        const group = j - i - 1
        if (group === 0 || (group < 4 && value.length + group !== len)) break
        value += text.slice(i + 1, j)
        i = j
      }
      if (value.length === len && !isAlnumAt(text, i)) end = i
    }
    if (end > 0 && ibanMod97(value)) {
      out.push({ category: 'iban', start: p, end, confidence: 0.97 })
      IBAN_GATE_RE.lastIndex = end
    }
  }
}

// ---------------------------------------------------------------------------------------------------- IP

const IPV4_RE = /(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d)/g
// A word before a dotted quad that makes it a version or a section number rather than an address.
const NOT_AN_IP_BEFORE_RE =
  /(?:\b(?:version|ver|v|release|build|rev|revision|section|sec|chapter|clause|figure|fig|oid|sdk|firmware|kernel|node|python|java|go|rust|chrome|firefox|safari|edge|ios|android|windows|macos)\.?\s*[:#]?\s*|==\s*|[@^~]|[<>]=\s*)$/i

function octetOk(s: string): boolean {
  return (s.length === 1 || s[0] !== '0') && Number(s) <= 255
}

export function ipv4Valid(value: string): boolean {
  const parts = value.split('.')
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && octetOk(p))
}

function detectIpv4(text: string, out: RawFinding[]): void {
  IPV4_RE.lastIndex = 0
  for (let m = IPV4_RE.exec(text); m; m = IPV4_RE.exec(text)) {
    const octets = [m[1]!, m[2]!, m[3]!, m[4]!]
    if (!octets.every(octetOk)) continue
    const a = octets[0]
    // Unspecified, loopback and netmask/broadcast values identify no one.
    if (a === '0' || a === '127' || a === '255') continue
    if (NOT_AN_IP_BEFORE_RE.test(text.slice(Math.max(0, m.index - 24), m.index))) continue
    out.push({ category: 'ip_address', start: m.index, end: m.index + m[0].length, confidence: 0.8 })
  }
}

const IPV6_GATE_RE = /:[0-9A-Fa-f]{0,4}:/g
const IPV6_CHAR = new Uint8Array(128)
for (const c of '0123456789abcdefABCDEF:.') IPV6_CHAR[c.charCodeAt(0)] = 1
const HEX_GROUP_RE = /^[0-9A-Fa-f]{1,4}$/

/** RFC 4291 text form: 8 groups, or fewer with one `::`, optionally ending in a dotted quad. */
export function ipv6Valid(s: string): boolean {
  if (s.length < 3 || s.length > 45) return false
  const dbl = s.indexOf('::')
  if (dbl !== s.lastIndexOf('::')) return false
  let core = s
  let v4 = 0
  const lastColon = s.lastIndexOf(':')
  const tail = s.slice(lastColon + 1)
  if (tail.includes('.')) {
    if (!ipv4Valid(tail)) return false
    v4 = 2
    core = s.slice(0, lastColon + 1)
    if (!core.endsWith('::')) core = core.slice(0, -1)
  } else if (s.includes('.')) return false
  let hexGroups: string[]
  if (dbl >= 0) {
    const d = core.indexOf('::')
    const head = core.slice(0, d)
    const rest = core.slice(d + 2)
    hexGroups = [...(head ? head.split(':') : []), ...(rest ? rest.split(':') : [])]
    if (hexGroups.length + v4 > 7) return false
  } else {
    hexGroups = core.split(':')
    if (hexGroups.length + v4 !== 8) return false
  }
  if (!hexGroups.every((g) => HEX_GROUP_RE.test(g))) return false
  // `::`, `::1`, `a::b` and the like are more likely code than addresses.
  if (hexGroups.length + v4 < 2 || !/\d/.test(s)) return false
  return !/^[0:]*$/.test(hexGroups.join(':'))
}

function detectIpv6(text: string, out: RawFinding[]): void {
  // Every match of the gate holds a ':' (indexOf finds one far faster than the gate reads a text without).
  if (text.indexOf(':') === -1) return
  IPV6_GATE_RE.lastIndex = 0
  let done = 0
  for (let m = IPV6_GATE_RE.exec(text); m; m = IPV6_GATE_RE.exec(text)) {
    // Expand left no further than the previous candidate, so a long run of ':' costs linear time.
    let s = m.index
    while (s > done && m.index - s < 45 && inClass(IPV6_CHAR, text.charCodeAt(s - 1))) s--
    let e = m.index + m[0].length
    while (e < text.length && e - s < 46 && inClass(IPV6_CHAR, text.charCodeAt(e))) e++
    done = e
    IPV6_GATE_RE.lastIndex = e
    // Trim a sentence's full stop or colon.
    while (e > s && text.charCodeAt(e - 1) === 46) e--
    if (text.charCodeAt(e - 1) === 58 && text.charCodeAt(e - 2) !== 58) e--
    if (text.charCodeAt(s) === 58 && text.charCodeAt(s + 1) !== 58) s++
    if (isWordAt(text, s - 1) || isWordAt(text, e) || inClass(IPV6_CHAR, text.charCodeAt(s - 1))) continue
    if (!inClass(HEX, text.charCodeAt(s)) && text.charCodeAt(s) !== 58) continue
    if (ipv6Valid(text.slice(s, e))) out.push({ category: 'ip_address', start: s, end: e, confidence: 0.8 })
  }
}

// ---------------------------------------------------------------------------------------------------- streams

const isSpaceCode = (c: number): boolean => c === 32 || (c >= 9 && c <= 13)

/**
 * No number finding spans more than this: a card is at most 19 digits with a separator between each, a phone 15
 * digits in at most 8 groups, an IBAN 34 characters in groups of four.
 */
const MAX_NUMBER_CHARS = 64

/**
 * For the stream redactor: where the number that ends at `runStart` (the start of a text's trailing run of
 * non-whitespace characters) begins. Cards, phones, SSNs and IBANs are read across single spaces between groups
 * (`4111 1111`, `+44 20 7946`, `(415) 555`, `GB29 NWBK`), so text still to come can turn groups sent several
 * words ago into one; those groups are held back together, as far as a number can reach back from the end.
 * Returns `runStart` when no group joins it.
 */
export function numberGroupsStart(text: string, runStart: number): number {
  let h = runStart
  while (h >= 2 && runStart - h < MAX_NUMBER_CHARS && text.charCodeAt(h - 1) === 32) {
    let l = h - 1
    while (l > 0 && runStart - l <= MAX_NUMBER_CHARS && !isSpaceCode(text.charCodeAt(l - 1))) l--
    if (runStart - l > MAX_NUMBER_CHARS) break
    if (l === h - 1) break // two spaces: no detector reads across them
    const last = text.charCodeAt(h - 2)
    const next = text.charCodeAt(h) // NaN at the end: anything may come
    const open = h === text.length
    const digits = (isDigitAt(text, h - 2) || last === 41) && (open || isDigitAt(text, h) || next === 40)
    let iban = h - 1 - l === 4 && (open || isIbanChar(next))
    for (let i = l; iban && i < h - 1; i++) iban = isIbanChar(text.charCodeAt(i))
    if (!digits && !iban) break
    h = l
  }
  return h
}

// ---------------------------------------------------------------------------------------------------- detectors

export const piiDetectors: Detector[] = [
  { id: 'email', categories: ['email'], detect: (text, _ctx, out) => detectEmails(text, out) },
  {
    id: 'phone',
    categories: ['phone'],
    detect: (text, ctx, out) => {
      detectInternationalPhones(text, out)
      detectNationalPhones(text, ctx, out)
    },
  },
  { id: 'ssn', categories: ['ssn'], detect: (text, ctx, out) => detectSsns(text, ctx, out) },
  { id: 'card', categories: ['card'], detect: (text, _ctx, out) => detectCards(text, out) },
  { id: 'iban', categories: ['iban'], detect: (text, _ctx, out) => detectIbans(text, out) },
  {
    id: 'ip_address',
    categories: ['ip_address'],
    detect: (text: string, ctx: DetectContext, out: RawFinding[]) => {
      if (!wants(ctx, 'ip_address')) return
      detectIpv4(text, out)
      detectIpv6(text, out)
    },
  },
]
