/**
 * Credentials: provider keys by their published prefixes and lengths, private-key blocks, JWTs, iron's own
 * tokens, and high-entropy values assigned to password/secret/token-like names.
 *
 * One pass with a literal-prefix regex finds every candidate (V8 searches literal prefixes quickly); each
 * candidate is then checked with a sticky, bounded regex at its position, so the cost is linear in the text.
 */
import { type Category, SECRET_CATEGORIES } from '../types.js'
import {
  charClasses,
  decodeBase64,
  distinctChars,
  hasMixedCase,
  inClass,
  isWordAt,
  shannonEntropy,
} from '../util.js'
import { type DetectContext, type Detector, type RawFinding, wants } from './detector.js'
import { keywordHits, positionsOf, registerKeywords } from './keywords.js'
import { tokenRuns } from './runs.js'

/** Longest private-key block (header to footer) the detector looks for; the stream redactor holds at most this. */
export const MAX_PRIVATE_KEY_CHARS = 16_384

interface KeyRule {
  category: Category
  /** Sticky; tried at the candidate's position. */
  re: RegExp
  /** Extra validation of the matched value. */
  check?: (value: string) => boolean
  confidence: number
  /** Chars trimmed from the end of the match (a sentence's full stop). */
  trimDots?: boolean
}

const randomish = (minDistinct: number) => (v: string) => distinctChars(v) >= minDistinct
const KEY_PREFIX_RE =
  /^(?:sk-ant-(?:[a-z]{2,8}\d{2}-)?|sk-(?:(?:proj|svcacct|admin|None)-)?|gh[pousr]_|github_pat_)/
/** The random part of a key has lower, upper and digit characters (real keys virtually always do). */
const mixed = (v: string) => {
  const body = v.replace(KEY_PREFIX_RE, '')
  return hasMixedCase(body) && distinctChars(body) >= 10
}

/** Words that mark a documentation placeholder rather than a key: `glpat-REPLACE_ME`, `sk-...-your-key`. */
const PLACEHOLDER_TOKENS = new Set([
  'your',
  'yours',
  'example',
  'examples',
  'placeholder',
  'replace',
  'replaceme',
  'changeme',
  'dummy',
  'redacted',
  'insert',
  'todo',
  'fixme',
  'here',
  'token',
  'secret',
  'sample',
  'fake',
  'demo',
  'value',
  'key',
])
export function hasPlaceholderWord(value: string): boolean {
  for (const token of value.split(/[^A-Za-z0-9]+/))
    if (PLACEHOLDER_TOKENS.has(token.toLowerCase())) return true
  return false
}
/** Two of lower, upper, digit (a word-and-dash placeholder has only lower case), varied, high entropy. */
const twoClasses = (prefixLength: number) => (v: string) => {
  const body = v.slice(prefixLength)
  const kinds = Number(/[a-z]/.test(body)) + Number(/[A-Z]/.test(body)) + Number(/\d/.test(body))
  return kinds >= 2 && distinctChars(body) >= 10 && shannonEntropy(body) >= 3.2
}

function jwtHeaderOk(value: string): boolean {
  const header = decodeBase64(value.slice(0, value.indexOf('.')))
  return header.startsWith('{') && /"(?:alg|typ|kid|enc)"/.test(header)
}

const RULES: Record<string, KeyRule[]> = {
  'sk-': [
    {
      category: 'anthropic_key',
      re: /sk-ant-(?:[a-z]{2,8}\d{2}-)?[A-Za-z0-9_-]{32,200}(?![A-Za-z0-9_-])/y,
      check: mixed,
      confidence: 0.99,
    },
    {
      category: 'openai_key',
      re: /sk-(?!ant-)(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_-]{20,250}(?![A-Za-z0-9_-])/y,
      check: mixed,
      confidence: 0.97,
    },
  ],
  AKIA: [
    {
      category: 'aws_access_key',
      re: /(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}(?![A-Za-z0-9])/y,
      check: (v) => distinctChars(v.slice(4)) >= 6,
      confidence: 0.95,
    },
  ],
  gh_: [
    {
      category: 'github_token',
      re: /gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9_])/y,
      check: mixed,
      confidence: 0.99,
    },
  ],
  github_pat_: [
    {
      category: 'github_token',
      re: /github_pat_[A-Za-z0-9_]{50,255}(?![A-Za-z0-9_])/y,
      check: mixed,
      confidence: 0.99,
    },
  ],
  gl: [
    {
      category: 'gitlab_token',
      re: /gl(?:pat|dt|rt|ptt|cbt|imt|soat|ffct|oas|ft|agent)-[A-Za-z0-9_.-]{20,200}(?![A-Za-z0-9_.-])/y,
      check: (v) => twoClasses(v.indexOf('-') + 1)(v),
      confidence: 0.97,
      trimDots: true,
    },
    {
      category: 'gitlab_token',
      re: /GR1348941[A-Za-z0-9_-]{20,40}(?![A-Za-z0-9_-])/y,
      check: twoClasses(9),
      confidence: 0.95,
    },
  ],
  xox: [
    {
      category: 'slack_token',
      re: /xox[abposre]-[A-Za-z0-9-]{10,250}(?![A-Za-z0-9-])/y,
      check: (v) => v.length >= 24 && /\d/.test(v) && randomish(10)(v),
      confidence: 0.97,
    },
  ],
  'xapp-': [
    {
      category: 'slack_token',
      re: /xapp-\d-[A-Za-z0-9-]{20,250}(?![A-Za-z0-9-])/y,
      check: randomish(10),
      confidence: 0.97,
    },
  ],
  hooks: [
    {
      category: 'slack_token',
      re: /(?:https?:\/\/)?hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/-]{20,200}(?![A-Za-z0-9_/-])/y,
      check: (v) =>
        randomish(10)(v.slice(v.lastIndexOf('/') + 1)) && charClasses(v.slice(v.lastIndexOf('/') + 1)) >= 2,
      confidence: 0.97,
    },
  ],
  stripe: [
    {
      category: 'stripe_key',
      re: /[rs]k_(?:live|test)_[A-Za-z0-9]{20,247}(?![A-Za-z0-9])/y,
      check: twoClasses(8),
      confidence: 0.98,
    },
  ],
  whsec_: [
    {
      category: 'stripe_key',
      re: /whsec_[A-Za-z0-9+/=]{24,100}(?![A-Za-z0-9+/=])/y,
      check: twoClasses(6),
      confidence: 0.95,
    },
  ],
  AIza: [
    {
      category: 'google_api_key',
      re: /AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/y,
      check: randomish(12),
      confidence: 0.97,
    },
  ],
  'GOCSPX-': [
    {
      category: 'google_api_key',
      re: /GOCSPX-[0-9A-Za-z_-]{28}(?![0-9A-Za-z_-])/y,
      check: randomish(12),
      confidence: 0.97,
    },
  ],
  'ya29.': [
    {
      category: 'google_api_key',
      re: /ya29\.[0-9A-Za-z_.-]{30,2048}(?![0-9A-Za-z_.-])/y,
      check: (v) => randomish(12)(v),
      confidence: 0.95,
      trimDots: true,
    },
  ],
  eyJ: [
    {
      category: 'jwt',
      re: /eyJ[A-Za-z0-9_-]{5,1024}\.eyJ[A-Za-z0-9_-]{5,8192}\.(?:[A-Za-z0-9_-]{16,2048})?(?![A-Za-z0-9_-])/y,
      check: jwtHeaderOk,
      confidence: 0.95,
    },
  ],
  iron_: [
    {
      category: 'iron_token',
      re: /iron_(?:ic|at|st|wh)_[A-Za-z0-9]{30,60}(?![A-Za-z0-9_])/y,
      check: randomish(10),
      confidence: 0.99,
    },
  ],
}

/** The rules for a key starting at `q` (the start of a run of key characters), and where it really starts. */
function rulesAt(text: string, q: number): { rules: KeyRule[] | undefined; start: number } {
  const none = { rules: undefined, start: q }
  switch (text.charCodeAt(q)) {
    case 115 /* s */:
      if (text.startsWith('sk-', q)) return { rules: RULES['sk-'], start: q }
      return text.startsWith('sk_live_', q) || text.startsWith('sk_test_', q)
        ? { rules: RULES.stripe, start: q }
        : none
    case 114 /* r */:
      return text.startsWith('rk_live_', q) || text.startsWith('rk_test_', q)
        ? { rules: RULES.stripe, start: q }
        : none
    case 65 /* A */:
      if (text.startsWith('AIza', q)) return { rules: RULES.AIza, start: q }
      return /^(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])/.test(text.slice(q, q + 4))
        ? { rules: RULES.AKIA, start: q }
        : none
    case 103 /* g */:
      if (text.startsWith('github_pat_', q)) return { rules: RULES.github_pat_, start: q }
      if (text.charCodeAt(q + 1) === 104 /* h */ && text.charCodeAt(q + 3) === 95)
        return { rules: RULES.gh_, start: q }
      return text.charCodeAt(q + 1) === 108 /* l */ ? { rules: RULES.gl, start: q } : none
    case 71 /* G */:
      if (text.startsWith('GOCSPX-', q)) return { rules: RULES['GOCSPX-'], start: q }
      return text.startsWith('GR1348941', q) ? { rules: RULES.gl, start: q } : none
    case 120 /* x */:
      if (text.startsWith('xapp-', q)) return { rules: RULES['xapp-'], start: q }
      return text.startsWith('xox', q) ? { rules: RULES.xox, start: q } : none
    case 119 /* w */:
      return text.startsWith('whsec_', q) ? { rules: RULES.whsec_, start: q } : none
    case 101 /* e */:
      return text.startsWith('eyJ', q) ? { rules: RULES.eyJ, start: q } : none
    case 105 /* i */:
      return text.startsWith('iron_', q) ? { rules: RULES.iron_, start: q } : none
    default:
      // "ya29." is cut off its run by the dot.
      if (text.charCodeAt(q - 1) === 46 && text.startsWith('ya29', q - 5))
        return { rules: RULES['ya29.'], start: q - 5 }
      return none
  }
}

/** Key characters [A-Za-z0-9_-], indexed by UTF-16 code unit (no range check in the loop over runs). */
const KEY_CHAR = new Uint8Array(65536)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')
  KEY_CHAR[c.charCodeAt(0)] = 1

// ---------------------------------------------------------------------------------------------------- PEM

const PK_BEGIN_RE = /-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----/y
const PEM_HEADER_LINE_RE = /[A-Za-z-]{3,20}: [^\r\n\\]{1,200}/y
const B64_STRICT = new Uint8Array(128)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=')
  B64_STRICT[c.charCodeAt(0)] = 1

/** Length of a line break at i: a real one, or a JSON-escaped `\n` / `\r\n` (keys pasted inside JSON strings). */
function newlineAt(text: string, i: number): number {
  const c = text.charCodeAt(i)
  if (c === 10) return 1
  if (c === 13) return text.charCodeAt(i + 1) === 10 ? 2 : 1
  if (c === 92 /* \ */) {
    if (text.startsWith('\\n', i)) return 2
    if (text.startsWith('\\r\\n', i)) return 4
  }
  return 0
}

/** End of the base64 body lines after a header whose footer has not (yet) appeared, and its base64 count. */
function pemBodyEnd(text: string, i: number, limit: number): { end: number; count: number } {
  let end = i
  let count = 0
  for (;;) {
    // Line breaks: several (blank lines) only before the body starts (PGP armour has one after its headers).
    let breaks = 0
    let j = end
    for (let nl = newlineAt(text, j); nl > 0 && breaks < (count === 0 ? 3 : 1); nl = newlineAt(text, j)) {
      j += nl
      breaks++
    }
    if (breaks === 0) break
    const lineStart = j
    while (j < limit && inClass(B64_STRICT, text.charCodeAt(j))) j++
    if (j === lineStart) {
      PEM_HEADER_LINE_RE.lastIndex = j
      if (count === 0 && PEM_HEADER_LINE_RE.test(text)) j = PEM_HEADER_LINE_RE.lastIndex
      else break
    } else {
      // A body line is base64 up to the line end (or the end of the text): prose after the key is not part of it.
      if (j < limit && j < text.length && newlineAt(text, j) === 0) break
      count += j - lineStart
    }
    end = j
    if (j >= limit) break
  }
  return { end, count }
}

function countBase64(text: string, from: number, to: number): number {
  let n = 0
  for (let i = from; i < to; i++) if (inClass(B64_STRICT, text.charCodeAt(i))) n++
  return n
}

/**
 * Start of the first private-key block in text[from..] that is not complete yet (its footer has not arrived, or
 * only part of it), or -1: the stream redactor holds text back from there until the block is complete (or
 * MAX_PRIVATE_KEY_CHARS long), since the block is redacted whole, footer included.
 */
export function openPrivateKeyStart(text: string, from: number): number {
  const reach = Math.max(from, text.length - MAX_PRIVATE_KEY_CHARS)
  for (let p = text.indexOf('-----BEGIN ', reach); p !== -1; p = text.indexOf('-----BEGIN ', p + 1)) {
    PK_BEGIN_RE.lastIndex = p
    // A header still being streamed ("-----BEGIN RSA PRI") counts as open too.
    if (!PK_BEGIN_RE.test(text) && text.length - p > 80) continue
    const end = text.indexOf('-----END ', p)
    if (end === -1) return p
    // The block ends with the footer's closing dashes if they come within 90 characters (detectPrivateKeys).
    const close = text.indexOf('-----', end + 9)
    if ((close === -1 || close + 5 > end + 90) && text.length < end + 90) return p
  }
  return -1
}

// ---------------------------------------------------------------------------------------------------- generic

// A name ending in a password/secret/token-like word, then an assignment; the name is checked afterwards. Found
// from the assignment character backwards (':' and '=' are rarer than the keywords' first letters, so this is
// about twice as fast as searching for the keywords); the `d` flag gives the keyword's position.
const ASSIGN_GATE_RE =
  /[:=](?<=(pass(?:word|wd|phrase)?|pwd|secret|token|key|credentials?)["'`\]]{0,2}(?:[ \t]{1,3}is)?[ \t]{0,5}[:=]?[:=])/dgi
const KEY_NAME_CHAR = new Uint8Array(128)
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-$')
  KEY_NAME_CHAR[c.charCodeAt(0)] = 1
const KEY_QUALIFIED_RE =
  /(?:api|access|secret|private|auth|signing|encryption|master|session|client|app|service|license|account|ssh|gpg|admin|webhook|shared|consumer|bot|deploy|integration|subscription)[_.-]?key$/i
const NOT_SECRET_TOKEN_RE =
  /(?:page|next|prev|previous|continuation|cursor|pagination|sync|max|min|num|total)[_.-]?token$/i
const PLACEHOLDER_WORDS =
  /^(?:your|my|the|a|an|enter|insert|put|add|replace|change|some|dummy|fake|sample|example|test|testing|placeholder|redacted|secret|password|passwd|token|changeme|todo|tbd|none|null|nil|undefined|true|false|required|optional|string|empty|default|hidden|masked|xxx|foo|bar)(?:$|[\s_.\-:])/i
registerKeywords(['bearer'])
const BEARER_RE = /bearer[ \t]{1,4}([A-Za-z0-9._~+/-]{20,4096}={0,3})(?![A-Za-z0-9._~+/=-])/iy
const URL_USERINFO_RE = /([^\s:/@?#"'<>[\]{}]{1,64}):([^\s@/?#"'<>[\]{}]{1,128})@[A-Za-z0-9[]/y

const GENERIC_PLACEHOLDER_TOKENS = new Set([
  'your',
  'yours',
  'example',
  'placeholder',
  'replace',
  'replaceme',
  'changeme',
  'redacted',
  'dummy',
])

export function isPlaceholderSecret(value: string): boolean {
  if (value.includes('[REDACTED')) return true
  if (/^[x*•.#_\-?0 ]+$/i.test(value)) return true
  if (
    /^(?:<[^>]*>|\{\{[^}]*\}\}|\$\{[^}]*\}|\$\(?[A-Za-z_]\w*\)?|%\(?[A-Za-z_]\w*\)?s?%?|\{[A-Za-z_]\w*\})$/.test(
      value,
    )
  )
    return true
  if (PLACEHOLDER_WORDS.test(value)) return true
  for (const token of value.split(/[^A-Za-z0-9]+/))
    if (GENERIC_PLACEHOLDER_TOKENS.has(token.toLowerCase())) return true
  // One character making up most of the value.
  const counts = new Map<string, number>()
  for (const c of value) counts.set(c, (counts.get(c) ?? 0) + 1)
  return Math.max(...counts.values()) > value.length * 0.6
}

/** High-entropy and not obviously code, a path, a URL or a placeholder. */
function secretValueOk(value: string, quoted: boolean): boolean {
  if (value.length < 8 || value.length > 200) return false
  if (isPlaceholderSecret(value)) return false
  if (/^\d+$/.test(value) || /^\d+(?:\.\d+)*$/.test(value)) return false
  if (!quoted) {
    if (/^[$%{<[(]/.test(value) || value.includes('(') || value.includes('://')) return false
    if (/^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(value)) return false // member access
    if (/^(?:\/|~\/|\.\.?\/)/.test(value)) return false // a path
  }
  if (/^[A-Za-z]+$/.test(value) || /^[a-z]+(?:[_-][a-z]+)*$/.test(value)) return false // words, snake_case
  if (charClasses(value) < 2) return false
  const h = shannonEntropy(value)
  return value.length >= 12 ? h >= 3.0 : h >= 2.75 && charClasses(value) >= 3
}

const confidenceFor = (value: string) => Math.min(0.9, 0.6 + Math.max(0, shannonEntropy(value) - 2.75) / 5)

function detectAssignments(text: string, out: RawFinding[]): void {
  // Every match of the gate is a ':' or a '=' (indexOf finds one far faster than the gate reads a text without).
  if (text.indexOf(':') === -1 && text.indexOf('=') === -1) return
  ASSIGN_GATE_RE.lastIndex = 0
  for (let m = ASSIGN_GATE_RE.exec(text); m; m = ASSIGN_GATE_RE.exec(text)) {
    const keywordStart = m.indices![1]![0]
    const keyword = m[1]!.toLowerCase()
    let s = keywordStart
    while (s > 0 && keywordStart - s < 64 && inClass(KEY_NAME_CHAR, text.charCodeAt(s - 1))) s--
    const name = text.slice(s, keywordStart + keyword.length)
    if (keyword === 'key' && !KEY_QUALIFIED_RE.test(name)) continue
    if (keyword === 'token' && NOT_SECRET_TOKEN_RE.test(name)) continue
    let p = m.index + 1
    if (text.charCodeAt(p) === 61 /* = */ || text.charCodeAt(p) === 62 /* > */) p++
    while (p < text.length && p - m.index < 80 && (text.charCodeAt(p) === 32 || text.charCodeAt(p) === 9)) p++
    const q = text.charCodeAt(p)
    let start: number
    let end: number
    const quoted = q === 34 || q === 39 || q === 96
    if (quoted) {
      start = p + 1
      end = start
      while (end < text.length && end - start <= 200) {
        const c = text.charCodeAt(end)
        if (c === 10 || c === 13) break
        if (c === 92 /* \ */) {
          end += 2
          continue
        }
        if (c === q) break
        end++
      }
      if (text.charCodeAt(end) !== q) continue
    } else {
      start = p
      end = p
      while (end < text.length && end - start <= 200) {
        const c = text.charCodeAt(end)
        if (
          c <= 32 ||
          c === 34 ||
          c === 39 ||
          c === 96 ||
          c === 44 ||
          c === 59 ||
          c === 41 ||
          c === 125 ||
          c === 93
        )
          break
        if (c === 60 || c === 62) break
        // '&' ends a value in a query string (`?token=...&next=1`), not inside a password.
        if (c === 38 && /^&[A-Za-z_][\w.-]*=/.test(text.slice(end, end + 40))) break
        end++
      }
      while (end > start && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 58)) end--
    }
    const value = text.slice(start, end)
    if (keyword === 'pwd' && value.startsWith('/')) continue
    if (!secretValueOk(value, quoted)) continue
    out.push({ category: 'generic_secret', start, end, confidence: confidenceFor(value) })
    ASSIGN_GATE_RE.lastIndex = Math.max(ASSIGN_GATE_RE.lastIndex, end)
  }
}

/**
 * Start of a quoted value assigned to a password/secret/token-like name whose closing quote has not arrived yet
 * (`password = "correct horse`), or -1. A quoted value may contain spaces, so the stream redactor holds it back
 * from its start until it closes, or can no longer be one (a line break, or longer than 200 characters).
 */
export function openQuotedSecretStart(text: string): number {
  // An open value is on the last line, at most 200 characters long: without a quote there, none is open.
  let quote = -1
  for (let i = text.length - 1; i >= 0 && text.length - i <= 202; i--) {
    const c = text.charCodeAt(i)
    if (c === 10 || c === 13) break
    if (c === 34 || c === 39 || c === 96) quote = i
  }
  if (quote === -1) return -1
  // Its '=' or ':' is at most 82 characters before the quote.
  ASSIGN_GATE_RE.lastIndex = Math.max(0, quote - 90)
  for (let m = ASSIGN_GATE_RE.exec(text); m; m = ASSIGN_GATE_RE.exec(text)) {
    let p = m.index + 1
    if (text.charCodeAt(p) === 61 /* = */ || text.charCodeAt(p) === 62 /* > */) p++
    while (p < text.length && p - m.index < 80 && (text.charCodeAt(p) === 32 || text.charCodeAt(p) === 9)) p++
    const q = text.charCodeAt(p)
    if (q !== 34 && q !== 39 && q !== 96) continue
    // The same walk as detectAssignments: open when it runs off the end of the text.
    const start = p + 1
    let end = start
    while (end < text.length && end - start <= 200) {
      const c = text.charCodeAt(end)
      if (c === 10 || c === 13 || c === q) break
      end += c === 92 /* \ */ ? 2 : 1
    }
    if (end >= text.length && end - start <= 200) return start
  }
  return -1
}

function detectBearer(text: string, ctx: DetectContext, out: RawFinding[]): void {
  for (const p of positionsOf(keywordHits(text, ctx), ['bearer'])) {
    BEARER_RE.lastIndex = p
    const m = BEARER_RE.exec(text)
    if (!m) continue
    const value = m[1]!
    if (isPlaceholderSecret(value) || distinctChars(value) < 10 || shannonEntropy(value) < 3.0) continue
    const start = p + m[0].length - value.length
    out.push({ category: 'generic_secret', start, end: start + value.length, confidence: 0.85 })
  }
}

function detectUrlCredentials(text: string, out: RawFinding[]): void {
  for (let p = text.indexOf('://'); p !== -1; p = text.indexOf('://', p + 3)) {
    if (!isWordAt(text, p - 1)) continue
    URL_USERINFO_RE.lastIndex = p + 3
    const m = URL_USERINFO_RE.exec(text)
    if (!m) continue
    const password = m[2]!
    if (isPlaceholderSecret(password) || /^(?:pass|pw|pwd)$/i.test(password)) continue
    const start = p + 3 + m[1]!.length + 1
    out.push({ category: 'generic_secret', start, end: start + password.length, confidence: 0.85 })
  }
}

// ---------------------------------------------------------------------------------------------------- detector

function detectPrivateKeys(text: string, out: RawFinding[]): void {
  let nextEnd = -2
  // indexOf('BEGIN') skips ahead on its rare last letter, much faster than a pattern ending in a space.
  for (let b = text.indexOf('BEGIN '); b !== -1; b = text.indexOf('BEGIN ', b + 1)) {
    const p = b - 5
    if (!text.startsWith('-----', p)) continue
    PK_BEGIN_RE.lastIndex = p
    if (!PK_BEGIN_RE.test(text)) continue
    const headerEnd = PK_BEGIN_RE.lastIndex
    if (nextEnd !== -1 && nextEnd < headerEnd) nextEnd = text.indexOf('-----END ', headerEnd)
    let end = -1
    if (nextEnd !== -1 && nextEnd - p <= MAX_PRIVATE_KEY_CHARS) {
      if (countBase64(text, headerEnd, nextEnd) >= 40) {
        const close = text.slice(nextEnd + 9, nextEnd + 90).indexOf('-----')
        end = close !== -1 ? nextEnd + 9 + close + 5 : nextEnd + 9
      }
    } else {
      const body = pemBodyEnd(text, headerEnd, Math.min(text.length, p + MAX_PRIVATE_KEY_CHARS))
      if (body.count >= 40) end = body.end
    }
    if (end > 0) {
      out.push({ category: 'private_key', start: p, end, confidence: 0.99 })
      b = end - 1
    }
  }
}

/** Tries a rule list at `start`; returns the end of the key found, or -1. */
function tryRules(
  text: string,
  ctx: DetectContext,
  rules: KeyRule[],
  start: number,
  out: RawFinding[],
): number {
  if (isWordAt(text, start - 1)) return -1
  for (const rule of rules) {
    if (!wants(ctx, rule.category)) continue
    rule.re.lastIndex = start
    const r = rule.re.exec(text)
    if (!r) continue
    let end = start + r[0].length
    if (rule.trimDots) while (text.charCodeAt(end - 1) === 46) end--
    const value = text.slice(start, end)
    if ((rule.check && !rule.check(value)) || hasPlaceholderWord(value)) continue
    out.push({ category: rule.category, start, end, confidence: rule.confidence })
    return end
  }
  return -1
}

/**
 * Provider keys: every key starts a run of key characters ([A-Za-z0-9_-]) inside the shared long runs, so only
 * run starts are checked for a known prefix. Slack webhooks (URLs) and PEM blocks are found by their literals.
 */
function detectKeys(text: string, ctx: DetectContext, out: RawFinding[]): void {
  if (wants(ctx, 'private_key')) detectPrivateKeys(text, out)
  if (wants(ctx, 'slack_token')) {
    for (let p = text.indexOf('hooks.slack.com/'); p !== -1; p = text.indexOf('hooks.slack.com/', p + 1)) {
      // A Slack webhook is the whole URL, scheme included.
      const start = text.startsWith('https://', p - 8) ? p - 8 : text.startsWith('http://', p - 7) ? p - 7 : p
      const end = tryRules(text, ctx, RULES.hooks!, start, out)
      if (end > 0) p = end - 1
    }
  }
  const runs = tokenRuns(text, ctx)
  let done = 0
  for (let r = 0; r < runs.length; r += 2) {
    const runEnd = runs[r + 1]!
    let q = Math.max(runs[r]!, done)
    while (q < runEnd) {
      while (q < runEnd && KEY_CHAR[text.charCodeAt(q)] === 0) q++
      if (q >= runEnd) break
      const { rules, start } = rulesAt(text, q)
      let e = q
      while (e < runEnd && KEY_CHAR[text.charCodeAt(e)] === 1) e++
      if (rules) {
        const end = tryRules(text, ctx, rules, start, out)
        if (end > 0) {
          done = end
          e = Math.max(e, end)
        }
      }
      q = e
    }
  }
}

export const secretDetectors: Detector[] = [
  {
    id: 'provider_keys',
    // Every credential with a recognisable shape; assignments and bearer values are generic_secret's.
    categories: SECRET_CATEGORIES.filter((c) => c !== 'generic_secret'),
    detect: detectKeys,
  },
  {
    id: 'generic_secret',
    categories: ['generic_secret'],
    detect: (text, ctx, out) => {
      detectAssignments(text, out)
      detectBearer(text, ctx, out)
      detectUrlCredentials(text, out)
    },
  },
]
