import { usageError } from '../core/errors.js'
import { decide } from './apply.js'
import type { Detector } from './detectors/detector.js'
import { heldSignalsStart, injectionContextStart, recordedSignals } from './detectors/injection.js'
import { numberGroupsStart } from './detectors/pii.js'
import { MAX_PRIVATE_KEY_CHARS, openPrivateKeyStart, openQuotedSecretStart } from './detectors/secrets.js'
import { DEFAULT_POLICY, enabledCategories } from './policy.js'
import { ASSIGNMENT_LOOKBEHIND, LOOKBEHIND, noFindingCanStart, SHORTEST_TOKEN, scanDetailed } from './scan.js'
import type { Category, Direction, EvaluatedFinding, Finding, SafetyError, SafetyPolicy } from './types.js'

/** Default and minimum context window (see StreamRedactorOptions.windowChars). */
export const DEFAULT_STREAM_WINDOW = 256
/** Default cap on how much text may be held back while a token or a private-key block is still open. */
export const DEFAULT_STREAM_MAX_HOLD = 32_768
/**
 * Text that needs a scan goes out in steps of at least this many characters (4 times as many when prompt
 * injection holds the text), and while everything is held a scan comes this often (or after a quarter of what is
 * held): a scan is not paid for every token.
 */
const MIN_STEP = 32
const NUMBER_CATEGORIES: readonly Category[] = ['phone', 'ssn', 'card', 'iban']
const INJECTION: ReadonlySet<Category> = new Set(['prompt_injection'])

export interface StreamRedactorOptions {
  /** 'output' (default) for model responses, 'input' to stream a prompt through the input policy. */
  direction?: Direction
  /**
   * How much already-sent text the detectors read before new text (left context), plus 128; and how often, in
   * characters, prompt-injection findings that are only logged are looked for. At least 256 (the default).
   */
  windowChars?: number
  /** Most characters ever held back (open tokens, private-key blocks); at least 16 KiB + windowChars. */
  maxHoldChars?: number
  /** Replaces the built-in detectors (tests, extensions). */
  detectors?: readonly Detector[]
}

export interface StreamChunk {
  /** Redacted text safe to send on; may be empty while text is held back. */
  emit: string
  /**
   * Findings now known for good, in the order of the whole text, with absolute offsets in the whole (unredacted)
   * stream. A finding may be reported after its (redacted) text was emitted: nothing before it can change.
   */
  findings: EvaluatedFinding[]
  /** Set once a `block` category is found (or a detector fails): end the stream with an error event. */
  blocked?: Category[]
  error?: SafetyError
}

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13)
const isHighSurrogate = (c: number): boolean => c >= 0xd800 && c <= 0xdbff

/**
 * Redacts a streamed response chunk by chunk, with the same result as evaluate() on the whole text.
 *
 * It sends everything except what text still to come could turn into (or out of) a finding, and holds that back:
 * - the trailing run of non-whitespace characters (the start of a key, a JWT, an email address, a URL, a
 *   number), and the digit groups before it that a card, phone, SSN or IBAN could join across single spaces;
 * - a quoted value assigned to a password-like name until its closing quote (it may contain spaces);
 * - a private-key block until its footer is complete;
 * - when prompt injection changes the text (`redact` or `block`), the current sentence (phrases never span a full
 *   stop), an unfinished role line or HTML comment, and any signal that a signal still to come could combine with.
 * So ordinary prose goes out word by word, and without a scan: no finding can start in words with no digit, '@',
 * ':' or '=' near them (noFindingCanStart). Text near one is scanned at most once per 32 new characters, so it
 * goes out in steps of 32 characters or more. When prompt injection is only logged, the text does not wait for
 * it: its findings are looked for every `windowChars` characters and reported once settled, after their text.
 * Never more than `maxHoldChars` (default 32 KiB) is held; whitespace-free runs longer than that are cut inside.
 * The emitted text and the findings equal evaluate(fullText)'s however the text is split; this is property-tested.
 *
 * When a `block` finding is confirmed, push() and end() report `blocked` and emit nothing more: the caller
 * should end the stream with an error event. A detector failure blocks too (fail closed).
 */
export class StreamRedactor {
  private readonly policy: Readonly<SafetyPolicy>
  private readonly direction: Direction
  private readonly window: number
  private readonly maxHold: number
  private readonly detectors: readonly Detector[] | undefined
  private readonly categories: ReadonlySet<Category>
  /** Looked for before text is sent: every category, except prompt injection when it is only logged. */
  private readonly textCategories: Set<Category>
  /** Prompt injection changes the text (redact or block): the text waits for it. */
  private readonly injectionGates: boolean
  /** Prompt injection is only logged: looked for on its own, its findings reported once settled. */
  private readonly injectionLogged: boolean
  /** Which holds apply: number groups, quoted secrets, private-key blocks. */
  private readonly holdNumbers: boolean
  private readonly holdQuotes: boolean
  private readonly holdKeys: boolean
  /** Fewest characters a scan should be able to send (unless nextScan is reached): MIN_STEP. */
  private readonly step: number
  /** Original text kept (left context for the detectors, and what is not settled), from absolute `start`. */
  private text = ''
  private start = 0
  /** What is not sent yet: text[sent..]. */
  private held = ''
  /** Absolute offsets: text sent so far; text whose prompt-injection findings are known (when only logged). */
  private sent = 0
  private settled = 0
  /** Absolute offsets kept up to date chunk by chunk, so most pushes read nothing but the chunk: */
  /** the start of the trailing run of non-whitespace characters, and the length of that run; */
  private tail = 0
  private run = 0
  /** the end of the last run of 16 or more (a key, a token), the last digit, '@', ':' or '=' ... */
  private longRunEnd = -1
  private lastTrigger = -Infinity
  /** ... and the last quote and line break. */
  private lastQuote = -1
  private lastBreak = -1
  /** Findings known and not reported yet, each list in order. */
  private found: EvaluatedFinding[] = []
  private foundInjections: EvaluatedFinding[] = []
  /** Absolute lengths at which to scan even if little or nothing can be sent (so a block is seen early). */
  private nextScan: number
  private nextInjectionScan: number
  private blocked: Category[] | undefined
  private error: SafetyError | undefined
  private ended = false

  constructor(policy: Readonly<SafetyPolicy> = DEFAULT_POLICY, options: StreamRedactorOptions = {}) {
    this.policy = policy
    this.direction = options.direction ?? 'output'
    this.window = options.windowChars ?? DEFAULT_STREAM_WINDOW
    this.maxHold = options.maxHoldChars ?? Math.max(DEFAULT_STREAM_MAX_HOLD, this.window * 4)
    if (!Number.isInteger(this.window) || this.window < DEFAULT_STREAM_WINDOW) {
      throw usageError(
        'SAFETY_STREAM_OPTIONS',
        `windowChars must be an integer of at least ${DEFAULT_STREAM_WINDOW}, got ${this.window}`,
        'Detectors look up to ~256 characters around a match; a smaller window could let a split secret through',
      )
    }
    if (!Number.isInteger(this.maxHold) || this.maxHold < MAX_PRIVATE_KEY_CHARS + this.window) {
      throw usageError(
        'SAFETY_STREAM_OPTIONS',
        `maxHoldChars must be an integer of at least ${MAX_PRIVATE_KEY_CHARS + this.window}, got ${this.maxHold}`,
        'It must fit a whole private-key block plus the window',
      )
    }
    this.detectors = options.detectors
    this.categories = enabledCategories(policy, this.direction)
    const injection = this.categories.has('prompt_injection')
      ? policy[this.direction].prompt_injection
      : 'off'
    this.injectionLogged = injection === 'log'
    this.injectionGates = injection === 'redact' || injection === 'block'
    this.textCategories = new Set(this.categories)
    if (this.injectionLogged) this.textCategories.delete('prompt_injection')
    this.holdNumbers = NUMBER_CATEGORIES.some((c) => this.categories.has(c))
    this.holdQuotes = this.categories.has('generic_secret')
    this.holdKeys = this.categories.has('private_key')
    // Prompt injection reads a sentence and the window before it: scan it less often.
    this.step = this.injectionGates ? 4 * MIN_STEP : MIN_STEP
    this.nextScan = this.window
    this.nextInjectionScan = this.window
  }

  /** Adds a chunk; returns what can be emitted now. */
  push(chunk: string): StreamChunk {
    if (this.ended) throw usageError('SAFETY_STREAM_ENDED', 'push() after end() on a StreamRedactor')
    if (this.blocked) return this.blockedChunk()
    if (this.categories.size === 0) {
      this.sent += chunk.length
      return { emit: chunk, findings: [] }
    }
    const at = this.start + this.text.length
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i)
      if (isSpace(c)) {
        this.run = 0
        this.tail = at + i + 1
        if (c === 10 || c === 13) this.lastBreak = at + i
        continue
      }
      if (++this.run >= SHORTEST_TOKEN) this.longRunEnd = at + i + 1
      if ((c >= 48 && c <= 57) || c === 64 || c === 58 || c === 61) this.lastTrigger = at + i
      else if (c === 34 || c === 39 || c === 96) this.lastQuote = at + i
    }
    this.text += chunk
    this.held += chunk
    return this.process(false)
  }

  /** Flushes the rest at the end of the stream. */
  end(): StreamChunk {
    if (this.ended) return { emit: '', findings: [] }
    this.ended = true
    if (this.blocked) return this.blockedChunk()
    if (this.categories.size === 0) return { emit: '', findings: [] }
    return this.process(true)
  }

  private blockedChunk(findings: EvaluatedFinding[] = []): StreamChunk {
    const chunk: StreamChunk = { emit: '', findings, blocked: this.blocked }
    if (this.error) chunk.error = this.error
    return chunk
  }

  private process(final: boolean): StreamChunk {
    const emit = final ? this.flush() : this.send()
    if (!this.blocked && this.injectionLogged && !final) this.settle()
    if (this.blocked) return this.blockedChunk(this.report(true))
    this.forget()
    const findings = this.found.length + this.foundInjections.length > 0 ? this.report(final) : []
    return { emit, findings }
  }

  /** Scans text[from..] (relative offsets) for `categories`; undefined (and blocked) when a detector failed. */
  private scan(
    from: number,
    categories: ReadonlySet<Category>,
    memo?: Map<string, unknown>,
  ): Finding[] | undefined {
    try {
      const scanned = scanDetailed(this.text.slice(from), {
        categories,
        injectionThreshold: this.policy.injection_threshold,
        detectors: this.detectors,
        memo,
      })
      if (scanned.failures.length === 0) return scanned.findings
      const verdict = decide('', [], scanned.failures, this.direction, this.policy)
      this.blocked = verdict.blocked
      this.error = verdict.error
    } catch (error) {
      this.blocked = [...this.categories]
      this.error = {
        code: 'SAFETY_INTERNAL',
        message: `safety scan failed: ${error instanceof Error ? error.message : String(error)}`,
      }
    }
    return undefined
  }

  /** Sends what text still to come can no longer change, redacted; returns it. */
  private send(): string {
    const end = this.start + this.text.length
    let cut = this.heldTextStart()
    if (!this.injectionGates && !this.detectors && cut > this.sent && this.plainWords(cut)) {
      // No finding can start in plain words: send them without a scan.
      const emit = this.held.slice(0, cut - this.sent)
      this.held = this.held.slice(cut - this.sent)
      this.sent = cut
      return emit
    }
    // Scan when enough can be sent, and now and then while (almost) everything is held, so a block is seen early.
    if (cut - this.sent < this.step && end < this.nextScan) return ''
    if (this.injectionGates)
      cut = Math.min(cut, this.start + injectionContextStart(this.text, Math.max(this.tail - this.start, 0)))
    const from = this.sent - this.start
    const n = this.text.length
    const scanFrom = Math.max(0, from - this.lookbehind(from))
    const memo = this.injectionGates ? new Map<string, unknown>() : undefined
    const scanned = this.scan(scanFrom, this.textCategories, memo)
    if (!scanned) return ''
    const findings = scanned
      .map((f) => ({ ...f, start: f.start + scanFrom, end: f.end + scanFrom }))
      .filter((f) => f.start >= from)
    let c = cut - this.start
    if (memo) {
      const signals = recordedSignals(memo).map((s) => ({ start: s.start + scanFrom, end: s.end + scanFrom }))
      c = Math.min(c, heldSignalsStart(c, signals))
    }
    c = this.cutPoint(c, from, findings)
    if (c <= from) {
      this.nextScan = end + Math.max(this.step, (n - from) >> 2)
      return ''
    }
    this.nextScan = end + this.step
    return this.emit(c, findings)
  }

  /** The end of the stream: everything goes, after one scan for every category. */
  private flush(): string {
    const from = this.sent - this.start
    const settledFrom = this.injectionLogged ? this.settled - this.start : from
    const scanFrom = Math.max(0, Math.min(from - this.lookbehind(from), settledFrom - this.window - 128))
    const scanned = this.scan(scanFrom, this.categories)
    if (!scanned) return ''
    const findings = scanned.map((f) => ({ ...f, start: f.start + scanFrom, end: f.end + scanFrom }))
    if (this.injectionLogged) {
      const injections = findings.filter((f) => f.category === 'prompt_injection' && f.start >= settledFrom)
      this.settleTo(this.text.length, settledFrom, injections)
    }
    const sent = findings.filter(
      (f) => f.start >= from && !(this.injectionLogged && f.category === 'prompt_injection'),
    )
    return this.emit(this.text.length, sent)
  }

  /** Sends text[sent..cut) (relative to `text`) redacted with `findings` (those from `sent` on). */
  private emit(cut: number, findings: readonly Finding[]): string {
    const from = this.sent - this.start
    const inside = findings
      .filter((f) => f.start < cut)
      .map((f) => ({ ...f, start: f.start - from, end: f.end - from }))
    const verdict = decide(this.text.slice(from, cut), inside, [], this.direction, this.policy)
    for (const f of verdict.findings)
      this.found.push({ ...f, start: f.start + this.sent, end: f.end + this.sent })
    if (verdict.blocked.length > 0) {
      this.blocked = verdict.blocked
      return ''
    }
    this.held = this.held.slice(cut - from)
    this.sent += cut - from
    return verdict.text
  }

  /**
   * Where the text stops being final as far as secrets and personal data go (absolute): the trailing run of
   * non-whitespace characters and the number groups it may join, an open quoted secret, an open private-key
   * block. Reads only what is held, and the last line when a quote is on it.
   */
  private heldTextStart(): number {
    const tail = Math.max(this.tail, this.sent)
    // Number groups across a space already sent were not joinable when it was sent, and still are not.
    let cut =
      this.holdNumbers && tail > this.sent ? this.sent + numberGroupsStart(this.held, tail - this.sent) : tail
    const end = this.start + this.text.length
    if (this.holdQuotes && this.lastQuote > this.lastBreak && end - this.lastQuote <= 202) {
      const quoted = openQuotedSecretStart(this.text)
      if (quoted !== -1) cut = Math.min(cut, this.start + quoted)
    }
    if (this.holdKeys) {
      const pem = openPrivateKeyStart(this.held, 0)
      if (pem !== -1) cut = Math.min(cut, this.sent + pem)
    }
    return Math.max(cut, this.sent)
  }

  /** Whether no finding can start in held text before `cut`: plain words, no digit or ':' near (see scan.ts). */
  private plainWords(cut: number): boolean {
    const upTo = cut - this.sent
    const dashes = this.held.indexOf('-----')
    if (dashes !== -1 && dashes < upTo) return false
    if (this.lastTrigger < this.sent - 90 && this.longRunEnd <= this.sent) return true
    // Something that may start a finding is near: look closer, unless it is in a run still too long to tell.
    if (this.longRunEnd > this.sent && this.longRunEnd <= cut) return false
    return noFindingCanStart(this.text, this.sent - this.start, cut - this.start)
  }

  /** How much sent text the detectors must read before text[from..] to find what starts there. */
  private lookbehind(from: number): number {
    // Prompt injection reads sentences and phrase windows: the whole window.
    if (this.injectionGates || this.detectors) return this.window + 128
    for (let i = Math.max(0, from - ASSIGNMENT_LOOKBEHIND); i < this.text.length; i++) {
      const c = this.text.charCodeAt(i)
      if (c === 58 /* : */ || c === 61 /* = */) return ASSIGNMENT_LOOKBEHIND
    }
    return LOOKBEHIND
  }

  /**
   * Pulls the cut back out of findings that change the text (a redaction is replaced whole), and never holds more
   * than maxHold (then cuts after any finding across the cap). Never between the halves of a surrogate pair.
   */
  private cutPoint(cut: number, from: number, findings: readonly Finding[]): number {
    const actions = this.policy[this.direction]
    const changes = (f: Finding) => actions[f.category] === 'redact' || actions[f.category] === 'block'
    for (let moved = true; moved; ) {
      moved = false
      for (const f of findings) {
        if (f.start < cut && f.end > cut && changes(f)) {
          cut = f.start
          moved = true
        }
      }
    }
    const floor = Math.max(from, this.text.length - this.maxHold)
    if (cut <= floor && floor > from) {
      cut = floor
      for (const f of findings) if (f.start < cut && f.end > cut) cut = f.end
    }
    if (cut > from && cut < this.text.length && isHighSurrogate(this.text.charCodeAt(cut - 1))) cut--
    return Math.max(cut, from)
  }

  /** Looks for prompt injection (when only logged) in what is not settled yet, every `window` characters. */
  private settle(): void {
    const end = this.start + this.text.length
    if (end < this.nextInjectionScan) return
    this.nextInjectionScan = end + this.window
    const n = this.text.length
    const from = this.settled - this.start
    const scanFrom = Math.max(0, from - this.window - 128)
    const memo = new Map<string, unknown>()
    const scanned = this.scan(scanFrom, INJECTION, memo)
    if (!scanned) return
    const signals = recordedSignals(memo).map((s) => ({ start: s.start + scanFrom, end: s.end + scanFrom }))
    const tail = Math.max(this.tail - this.start, 0)
    const cut = Math.max(heldSignalsStart(injectionContextStart(this.text, tail), signals), n - this.maxHold)
    const findings = scanned.map((f) => ({ ...f, start: f.start + scanFrom, end: f.end + scanFrom }))
    this.settleTo(
      cut,
      from,
      findings.filter((f) => f.start >= from),
    )
  }

  /** Prompt-injection findings before `cut` (relative to `text`) are known: keep them to report. */
  private settleTo(cut: number, from: number, findings: readonly Finding[]): void {
    if (cut <= from) return
    const settled = findings
      .filter((f) => f.start < cut)
      .map((f) => ({ ...f, start: f.start - from, end: f.end - from }))
    const verdict = decide('', settled, [], this.direction, this.policy)
    for (const f of verdict.findings)
      this.foundInjections.push({ ...f, start: f.start + this.settled, end: f.end + this.settled })
    this.settled += cut - from
  }

  /** The findings nothing can come before any more (all of them when `all`), in the order of the whole text. */
  private report(all: boolean): EvaluatedFinding[] {
    const frontier = all ? Infinity : this.injectionLogged ? Math.min(this.sent, this.settled) : this.sent
    const a = this.found
    const b = this.foundInjections
    const out: EvaluatedFinding[] = []
    let i = 0
    let j = 0
    for (;;) {
      const fa = i < a.length && a[i]!.start < frontier ? a[i] : undefined
      const fb = j < b.length && b[j]!.start < frontier ? b[j] : undefined
      if (!fa && !fb) break
      // Ties go to the secret or personal data, as in scan(): injections are sorted in after them.
      if (fa && (!fb || fa.start < fb.start || (fa.start === fb.start && fa.end <= fb.end))) {
        out.push(fa)
        i++
      } else {
        out.push(fb!)
        j++
      }
    }
    if (i > 0) this.found = a.slice(i)
    if (j > 0) this.foundInjections = b.slice(j)
    return out
  }

  /** Drops the text no scan will read again: left context before what is neither sent nor settled. */
  private forget(): void {
    const keep = Math.min(this.sent, this.injectionLogged ? this.settled : this.sent) - this.window - 128
    if (keep - this.start >= 1024) {
      this.text = this.text.slice(keep - this.start)
      this.start = keep
    }
  }
}
