/**
 * Scanning and redacting API bodies without breaking them. What is text in a body is not known here: each
 * API's adapter walks its own body shape into a `TextSink` (user-visible text, tool-call arguments, tool
 * inputs; images, audio, files and signed thinking blocks are left out), and this module scans the parts,
 * decides by policy, and writes redactions back in place, keeping JSON arguments valid JSON.
 */
import { IronError } from '../core/errors.js'
import { decide, failClosed } from './apply.js'
import type { Detector } from './detectors/detector.js'
import { DEFAULT_POLICY, enabledCategories } from './policy.js'
import { scanDetailed } from './scan.js'
import {
  CATEGORIES,
  type Category,
  type Direction,
  type EvaluatedFinding,
  redactionLabel,
  type SafetyError,
  type SafetyPolicy,
} from './types.js'

export type PathSegment = string | number

export interface TextPart {
  /** Where the text is, e.g. `messages[2].content[0].text`. */
  path: string
  segments: readonly PathSegment[]
  text: string
  /**
   * `text`: plain text. `json`: a string holding a JSON document (tool-call arguments), redacted so it stays
   * valid JSON. `json-object`: an object (Anthropic tool_use input), scanned as its JSON.stringify() text.
   */
  kind: 'text' | 'json' | 'json-object'
}

/**
 * Where a body walker puts what it finds. `text` and `object` parts are scanned by the firewall and
 * counted by the tokenizer; `counted` text (tool definitions, response schemas) is billed as input but
 * not scanned; `tokenIds` are input given as token ids.
 */
export interface TextSink {
  text(segments: PathSegment[], value: unknown, kind?: 'text' | 'json'): void
  object(segments: PathSegment[], value: unknown): void
  counted(value: unknown): void
  tokenIds(count: number): void
}

/** An API's knowledge of where the text is in its bodies. */
export type BodyWalker = (sink: TextSink, body: Record<string, unknown>) => void

/** One walk of a body: the parts to scan, and everything to count as input. */
export interface WalkedBody {
  parts: TextPart[]
  /** Every text the provider bills as input: the parts' texts and the counted-only ones. */
  texts: string[]
  tokenIds: number
}

export interface BodyLimits {
  /** Deepest nesting visited (body root = 0). Default 64. */
  maxDepth?: number
  /** Most characters of text in one body. Default 32 MiB. */
  maxTextChars?: number
  /** Most text parts in one body. Default 100,000. */
  maxParts?: number
}

export const DEFAULT_BODY_LIMITS: Readonly<Required<BodyLimits>> = Object.freeze({
  maxDepth: 64,
  maxTextChars: 32 * 1024 * 1024,
  maxParts: 100_000,
})

export interface BodyFinding extends EvaluatedFinding {
  /** The text part the finding is in; offsets are relative to that text. */
  path: string
}

export interface BodyResult {
  /** A new body with redactions applied (unchanged parts shared with the input); the input body on error. */
  body: unknown
  findings: BodyFinding[]
  blocked: Category[]
  redacted: Category[]
  logged: Category[]
  /** SAFETY_BODY_TOO_COMPLEX (limits exceeded) or SAFETY_DETECTOR_ERROR: the result is blocked (fail closed). */
  error?: SafetyError
}

export interface RedactBodyOptions extends BodyLimits {
  detectors?: readonly Detector[]
}

// ---------------------------------------------------------------------------------------------------- paths

const IDENT_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/
export function formatPath(segments: readonly PathSegment[]): string {
  let out = ''
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`
    else if (IDENT_RE.test(s)) out += out === '' ? s : `.${s}`
    else out += `[${JSON.stringify(s)}]`
  }
  return out
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function tooComplex(message: string): IronError {
  return new IronError('SAFETY_BODY_TOO_COMPLEX', message, {
    hint: 'The body is larger or deeper than the safety scanner accepts; it is refused rather than sent unscanned',
  })
}

class Collector implements TextSink {
  readonly parts: TextPart[] = []
  readonly texts: string[] = []
  tokens = 0
  private total = 0
  constructor(readonly limits: Readonly<Required<BodyLimits>>) {}

  counted(value: unknown): void {
    if (value === undefined || value === null) return
    const text = typeof value === 'string' ? value : JSON.stringify(value)
    if (text) this.texts.push(text)
  }

  tokenIds(count: number): void {
    this.tokens += count
  }

  text(segments: PathSegment[], value: unknown, kind: 'text' | 'json' = 'text'): void {
    if (typeof value !== 'string' || value.length === 0) return
    this.push(segments, value, kind)
  }

  object(segments: PathSegment[], value: unknown): void {
    if (typeof value !== 'object' || value === null) {
      if (typeof value === 'string') this.text(segments, value)
      return
    }
    this.checkDepth(value, segments.length)
    const json = JSON.stringify(value)
    if (json && json.length > 2) this.push(segments, json, 'json-object')
  }

  private push(segments: PathSegment[], text: string, kind: TextPart['kind']): void {
    if (segments.length > this.limits.maxDepth) {
      throw tooComplex(`Body nesting exceeds ${this.limits.maxDepth} levels at ${formatPath(segments)}`)
    }
    this.total += text.length
    if (this.total > this.limits.maxTextChars) {
      throw tooComplex(`Body has more than ${this.limits.maxTextChars} characters of text to scan`)
    }
    if (this.parts.length >= this.limits.maxParts) {
      throw tooComplex(`Body has more than ${this.limits.maxParts} text parts to scan`)
    }
    this.parts.push({ path: formatPath(segments), segments: [...segments], text, kind })
    this.texts.push(text)
  }

  /** Iterative (no recursion), so a hostile 100,000-level object cannot overflow the stack. */
  private checkDepth(root: object, baseDepth: number): void {
    const stack: [unknown, number][] = [[root, baseDepth]]
    let nodes = 0
    while (stack.length > 0) {
      const [value, depth] = stack.pop()!
      if (typeof value !== 'object' || value === null) continue
      if (depth > this.limits.maxDepth) {
        throw tooComplex(`Body nesting exceeds ${this.limits.maxDepth} levels`)
      }
      if (++nodes > this.limits.maxParts * 10) throw tooComplex('Body has too many nested values to scan')
      for (const child of Array.isArray(value) ? value : Object.values(value)) {
        if (typeof child === 'object' && child !== null) stack.push([child, depth + 1])
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------- walking

const definedOnly = (limits: BodyLimits): BodyLimits =>
  Object.fromEntries(Object.entries(limits).filter(([k, v]) => v !== undefined && k in DEFAULT_BODY_LIMITS))

/**
 * Walk a body once with its API's walker. Throws IronError SAFETY_BODY_TOO_COMPLEX beyond the limits.
 * Bodies of an unexpected shape yield the texts that are where the API puts them.
 */
export function walkBody(walker: BodyWalker, body: unknown, limits: BodyLimits = {}): WalkedBody {
  const c = new Collector({ ...DEFAULT_BODY_LIMITS, ...definedOnly(limits) })
  if (isObject(body)) walker(c, body)
  return { parts: c.parts, texts: c.texts, tokenIds: c.tokens }
}

// ---------------------------------------------------------------------------------------------------- JSON text

interface Token {
  start: number
  end: number
  kind: 's' | 'n'
}

/** String and number tokens of a JSON text (lenient: works on invalid JSON too). Linear. */
function jsonTokens(raw: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < raw.length) {
    const c = raw.charCodeAt(i)
    if (c === 34 /* " */) {
      let j = i + 1
      while (j < raw.length) {
        const d = raw.charCodeAt(j)
        if (d === 92) j += 2
        else if (d === 34) break
        else j++
      }
      const end = Math.min(j + 1, raw.length)
      tokens.push({ start: i, end, kind: 's' })
      i = end
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1
      while (j < raw.length && /[-+.eE0-9]/.test(raw[j]!)) j++
      tokens.push({ start: i, end: j, kind: 'n' })
      i = j
    } else if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) {
      let j = i + 1
      while (j < raw.length && /[A-Za-z0-9_]/.test(raw[j]!)) j++
      i = j
    } else i++
  }
  return tokens
}

/** Start offsets of the logical characters inside a JSON string token (an escape is one character). */
function charStarts(raw: string, from: number, to: number): number[] {
  const starts: number[] = []
  let k = from
  while (k < to) {
    starts.push(k)
    if (raw.charCodeAt(k) === 92) k += raw[k + 1] === 'u' ? 6 : 2
    else k++
  }
  starts.push(to)
  return starts
}

/**
 * Redacts spans of a JSON text so it stays valid JSON: inside a string the replacement never splits an escape
 * sequence (and the label has no quotes or backslashes); a number is replaced whole by a quoted label; spans
 * crossing structure are redacted token by token. Text outside any token (invalid JSON) is replaced as is.
 */
export function redactJsonText(
  raw: string,
  spans: readonly { start: number; end: number; category: Category }[],
): string {
  if (spans.length === 0) return raw
  const tokens = jsonTokens(raw)
  const edits: { start: number; end: number; text: string }[] = []
  for (const span of spans) {
    // First token that ends after the span starts (binary search).
    let lo = 0
    let hi = tokens.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (tokens[mid]!.end <= span.start) lo = mid + 1
      else hi = mid
    }
    let touched = false
    for (let t = lo; t < tokens.length && tokens[t]!.start < span.end; t++) {
      const tok = tokens[t]!
      touched = true
      const label = redactionLabel(span.category)
      if (tok.kind === 'n') {
        edits.push({ start: tok.start, end: tok.end, text: `"${label}"` })
        continue
      }
      const innerStart = tok.start + 1
      const innerEnd = raw.charCodeAt(tok.end - 1) === 34 && tok.end - 1 > tok.start ? tok.end - 1 : tok.end
      const a = Math.max(span.start, innerStart)
      const b = Math.min(span.end, innerEnd)
      if (a >= b) continue
      const starts = charStarts(raw, innerStart, innerEnd)
      let sa = innerStart
      for (const s of starts) if (s <= a) sa = s
      let sb = innerEnd
      for (let k = starts.length - 1; k >= 0; k--) if (starts[k]! >= b) sb = starts[k]!
      edits.push({ start: sa, end: sb, text: label })
    }
    if (!touched) edits.push({ start: span.start, end: span.end, text: redactionLabel(span.category) })
  }
  edits.sort((x, y) => x.start - y.start || y.end - x.end)
  let out = ''
  let pos = 0
  for (const e of edits) {
    if (e.end <= pos) continue
    if (e.start < pos) {
      pos = e.end
      continue
    }
    out += raw.slice(pos, e.start) + e.text
    pos = e.end
  }
  return out + raw.slice(pos)
}

// ---------------------------------------------------------------------------------------------------- redaction

/** Sets values at paths in a copy of root: only the containers along the paths are copied. */
function applyEdits(root: unknown, edits: { segments: readonly PathSegment[]; value: unknown }[]): unknown {
  if (edits.length === 0) return root
  const clones = new Map<object, Record<string | number, unknown>>()
  const cloneOf = (o: object): Record<string | number, unknown> => {
    let c = clones.get(o)
    if (!c) {
      c = (Array.isArray(o) ? o.slice() : { ...o }) as Record<string | number, unknown>
      clones.set(o, c)
    }
    return c
  }
  const newRoot = cloneOf(root as object)
  for (const { segments, value } of edits) {
    let orig = root as Record<string | number, unknown>
    let copy = newRoot
    for (let i = 0; i < segments.length - 1; i++) {
      const key = segments[i]!
      const child = orig[key] as object
      const childCopy = cloneOf(child)
      copy[key] = childCopy
      copy = childCopy
      orig = child as Record<string | number, unknown>
    }
    copy[segments[segments.length - 1]!] = value
  }
  return newRoot
}

const ordered = (set: Set<Category>): Category[] => CATEGORIES.filter((c) => set.has(c))

function redactBody(
  parts: () => TextPart[],
  body: unknown,
  direction: Direction,
  policy: Readonly<SafetyPolicy>,
  options: RedactBodyOptions,
): BodyResult {
  try {
    const categories = enabledCategories(policy, direction)
    if (categories.size === 0) return { body, findings: [], blocked: [], redacted: [], logged: [] }
    const blocked = new Set<Category>()
    const redacted = new Set<Category>()
    const logged = new Set<Category>()
    const findings: BodyFinding[] = []
    const edits: { segments: readonly PathSegment[]; value: unknown }[] = []
    let error: SafetyError | undefined
    for (const part of parts()) {
      const scanned = scanDetailed(part.text, {
        categories,
        injectionThreshold: policy.injection_threshold,
        detectors: options.detectors,
      })
      const verdict = decide(part.text, scanned.findings, scanned.failures, direction, policy)
      for (const f of verdict.findings) findings.push({ ...f, path: part.path })
      for (const c of verdict.blocked) blocked.add(c)
      for (const c of verdict.redacted) redacted.add(c)
      for (const c of verdict.logged) logged.add(c)
      if (verdict.error) {
        error ??= verdict.error
        continue
      }
      const spans = verdict.findings.filter((f) => f.action === 'redact' || f.action === 'block')
      if (spans.length === 0) continue
      if (part.kind === 'text') edits.push({ segments: part.segments, value: verdict.text })
      else {
        const json = redactJsonText(part.text, spans)
        edits.push({ segments: part.segments, value: part.kind === 'json' ? json : JSON.parse(json) })
      }
    }
    const result: BodyResult = {
      body: error ? body : applyEdits(body, edits),
      findings,
      blocked: ordered(blocked),
      redacted: ordered(redacted),
      logged: ordered(logged),
    }
    if (error) result.error = error
    return result
  } catch (error) {
    const safetyError: SafetyError =
      error instanceof IronError && error.code === 'SAFETY_BODY_TOO_COMPLEX'
        ? { code: 'SAFETY_BODY_TOO_COMPLEX', message: error.message }
        : {
            code: 'SAFETY_INTERNAL',
            message: `safety scan failed: ${error instanceof Error ? error.message : String(error)}`,
          }
    const verdict = failClosed(direction, policy, safetyError)
    return { body, findings: [], blocked: verdict.blocked, redacted: [], logged: [], error: safetyError }
  }
}

/**
 * Scans and redacts a body, given its parts (from `walkBody`, or a function that walks it, so that a
 * body too complex to walk is refused like one that fails to scan), with the policy's side for
 * `direction`. Returns a new body (the input is not modified), the findings with their paths, and the
 * categories blocked / redacted / logged. Never throws: beyond the limits or on a detector failure the
 * result carries `error` and blocks (fail closed).
 */
export function redactParts(
  parts: TextPart[] | (() => TextPart[]),
  body: unknown,
  direction: Direction,
  policy: Readonly<SafetyPolicy> = DEFAULT_POLICY,
  options: RedactBodyOptions = {},
): BodyResult {
  return redactBody(typeof parts === 'function' ? parts : () => parts, body, direction, policy, options)
}
