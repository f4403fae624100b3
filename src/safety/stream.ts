import { usageError } from '../core/errors.js'
import { decide } from './apply.js'
import type { Detector } from './detectors/detector.js'
import { MAX_PRIVATE_KEY_CHARS, openPrivateKeyStart } from './detectors/secrets.js'
import { DEFAULT_POLICY, enabledCategories } from './policy.js'
import { scanDetailed } from './scan.js'
import type { Category, Direction, EvaluatedFinding, Finding, SafetyError, SafetyPolicy } from './types.js'
import { inClass, TOKEN } from './util.js'

/** Default and minimum hold-back window (see StreamRedactor). */
export const DEFAULT_STREAM_WINDOW = 256
/** Default cap on how much text may be held back while a token or a private-key block is still open. */
export const DEFAULT_STREAM_MAX_HOLD = 32_768
/** Emit in steps of at least this many characters, so tiny deltas do not each cost a rescan. */
const MIN_STEP = 32

export interface StreamRedactorOptions {
  /** 'output' (default) for model responses, 'input' to stream a prompt through the input policy. */
  direction?: Direction
  /** Characters always held back at the end of the buffer; at least 256 (the default). */
  windowChars?: number
  /** Most characters ever held back (open tokens, private-key blocks); at least 16 KiB + windowChars. */
  maxHoldChars?: number
  /** Replaces the built-in detectors (tests, extensions). */
  detectors?: readonly Detector[]
}

export interface StreamChunk {
  /** Redacted text safe to send on; may be empty while text is held back. */
  emit: string
  /** Findings in the text just emitted, with absolute offsets in the whole (unredacted) stream. */
  findings: EvaluatedFinding[]
  /** Set once a `block` category is found (or a detector fails): end the stream with an error event. */
  blocked?: Category[]
  error?: SafetyError
}

/**
 * Redacts a streamed response chunk by chunk, with the same result as evaluate() on the whole text.
 *
 * It holds back the last `windowChars` characters (default 256), so a secret split across chunks is still seen
 * whole, and emits everything before them. It holds back more only when the cut would fall inside (a) a
 * finding, (b) a whitespace-free token (a key, a JWT, a URL being streamed: the cut moves to the token's
 * start) or (c) a private-key block whose footer has not arrived, and never more than `maxHoldChars`
 * (default 32 KiB). Every detector's decision depends only on text within ~256 characters of a match (or
 * within the token or block), so the emitted text equals evaluate(fullText).text; this is property-tested.
 * Pathological exception: whitespace-free runs longer than maxHoldChars are cut inside.
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
  private readonly categories: Set<Category>
  /** Original text not yet emitted, starting at absolute offset `base`. */
  private buf = ''
  private base = 0
  /** The end of the original text already emitted: left context for the detectors. */
  private ctx = ''
  private nextProcessAt: number
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
    this.nextProcessAt = this.window + MIN_STEP
  }

  /** Adds a chunk; returns what can be emitted now. */
  push(chunk: string): StreamChunk {
    if (this.ended) throw usageError('SAFETY_STREAM_ENDED', 'push() after end() on a StreamRedactor')
    if (this.blocked) return this.blockedChunk([])
    this.buf += chunk
    if (this.categories.size === 0) return this.passThrough()
    if (this.buf.length < this.nextProcessAt) return { emit: '', findings: [] }
    return this.process(false)
  }

  /** Flushes the rest at the end of the stream. */
  end(): StreamChunk {
    if (this.ended) return { emit: '', findings: [] }
    this.ended = true
    if (this.blocked) return this.blockedChunk([])
    if (this.categories.size === 0) return this.passThrough()
    return this.process(true)
  }

  private passThrough(): StreamChunk {
    const emit = this.buf
    this.base += emit.length
    this.buf = ''
    return { emit, findings: [] }
  }

  private blockedChunk(findings: EvaluatedFinding[]): StreamChunk {
    const chunk: StreamChunk = { emit: '', findings, blocked: this.blocked }
    if (this.error) chunk.error = this.error
    return chunk
  }

  private process(final: boolean): StreamChunk {
    const text = this.ctx + this.buf
    const off = this.ctx.length
    let findings: Finding[]
    try {
      const scanned = scanDetailed(text, {
        categories: this.categories,
        injectionThreshold: this.policy.injection_threshold,
        detectors: this.detectors,
      })
      if (scanned.failures.length > 0) {
        const verdict = decide('', [], scanned.failures, this.direction, this.policy)
        this.blocked = verdict.blocked
        this.error = verdict.error
        return this.blockedChunk([])
      }
      findings = scanned.findings.filter((f) => f.start >= off)
    } catch (error) {
      this.blocked = [...this.categories]
      this.error = {
        code: 'SAFETY_INTERNAL',
        message: `safety scan failed: ${error instanceof Error ? error.message : String(error)}`,
      }
      return this.blockedChunk([])
    }
    const cut = final ? text.length : this.cutPoint(text, off, findings)
    if (cut <= off) {
      this.nextProcessAt = this.buf.length + Math.max(MIN_STEP, Math.floor(this.buf.length / 4))
      return { emit: '', findings: [] }
    }
    const shift = this.base - off
    const inside = findings
      .filter((f) => f.end <= cut)
      .map((f) => ({ ...f, start: f.start - off, end: f.end - off }))
    const verdict = decide(text.slice(off, cut), inside, [], this.direction, this.policy)
    const absolute = verdict.findings.map((f) => ({
      ...f,
      start: f.start + off + shift,
      end: f.end + off + shift,
    }))
    if (verdict.blocked.length > 0) {
      this.blocked = verdict.blocked
      return this.blockedChunk(absolute)
    }
    const emitted = text.slice(off, cut)
    this.base += emitted.length
    this.buf = text.slice(cut)
    const keep = this.window + 128
    let ctx = this.ctx + emitted
    if (ctx.length > keep) ctx = ctx.slice(ctx.length - keep)
    this.ctx = ctx
    this.nextProcessAt = Math.max(
      this.window + MIN_STEP,
      this.buf.length + Math.max(MIN_STEP, Math.floor(this.buf.length / 4)),
    )
    return { emit: verdict.text, findings: absolute }
  }

  /** Where to stop emitting: window before the end, pulled back out of findings, tokens and open key blocks. */
  private cutPoint(text: string, off: number, findings: readonly Finding[]): number {
    const n = text.length
    const floor = Math.max(off, n - this.maxHold)
    let cut = n - this.window
    if (cut <= off) return off
    const pem = openPrivateKeyStart(text, off)
    if (pem !== -1) cut = Math.min(cut, pem)
    for (let changed = true; changed && cut > floor; ) {
      changed = false
      if (inClass(TOKEN, text.charCodeAt(cut - 1)) && inClass(TOKEN, text.charCodeAt(cut))) {
        let s = cut
        while (s > floor && inClass(TOKEN, text.charCodeAt(s - 1))) s--
        if (s !== cut) {
          cut = s
          changed = true
        }
      }
      for (const f of findings) {
        if (f.start < cut && f.end > cut) {
          cut = Math.max(floor, f.start)
          changed = true
        }
      }
    }
    if (cut <= floor && floor > off) {
      // Held back too much: emit up to the cap, but never half a finding.
      cut = floor
      for (const f of findings) if (f.start < cut && f.end > cut) cut = f.end
    }
    return Math.max(cut, off)
  }
}
