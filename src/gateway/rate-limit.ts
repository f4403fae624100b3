const WINDOW_SECONDS = 60

interface Window {
  /** Per-second buckets of the last minute: [second, requests, tokens]. */
  seconds: Int32Array
  requests: Int32Array
  tokens: Float64Array
}

export type RateDecision =
  | { ok: true }
  | { ok: false; limit: 'requests_per_minute' | 'tokens_per_minute'; retryAfterSeconds: number }

/**
 * Per-agent limits over a sliding minute (60 one-second buckets), in memory, per gateway process.
 * Requests count when admitted (before the body is read); tokens count the input once counted and the
 * output at settlement.
 */
export class RateLimiter {
  readonly #windows = new Map<string, Window>()

  constructor(private readonly now: () => number = Date.now) {}

  #window(agentId: string): Window {
    let w = this.#windows.get(agentId)
    if (!w) {
      w = {
        seconds: new Int32Array(WINDOW_SECONDS).fill(-1),
        requests: new Int32Array(WINDOW_SECONDS),
        tokens: new Float64Array(WINDOW_SECONDS),
      }
      this.#windows.set(agentId, w)
    }
    return w
  }

  #bucket(w: Window, second: number): number {
    const i = second % WINDOW_SECONDS
    if (w.seconds[i] !== second) {
      w.seconds[i] = second
      w.requests[i] = 0
      w.tokens[i] = 0
    }
    return i
  }

  #sums(w: Window, second: number) {
    let requests = 0
    let tokens = 0
    for (let i = 0; i < WINDOW_SECONDS; i++) {
      const s = w.seconds[i]!
      if (s > second - WINDOW_SECONDS && s <= second) {
        requests += w.requests[i]!
        tokens += w.tokens[i]!
      }
    }
    return { requests, tokens }
  }

  /**
   * Admit one request (before its body is read), or say how long to wait: over its requests per minute,
   * or its tokens per minute already used up.
   */
  admit(agentId: string, limits: { rpm: number | null; tpm: number | null }): RateDecision {
    if (limits.rpm === null && limits.tpm === null) return { ok: true }
    const second = Math.floor(this.now() / 1000)
    const w = this.#window(agentId)
    const used = this.#sums(w, second)
    if (limits.rpm !== null && used.requests + 1 > limits.rpm) {
      return {
        ok: false,
        limit: 'requests_per_minute',
        retryAfterSeconds: this.#retryAfter(w, second, (i) => w.requests[i]!, used.requests + 1 - limits.rpm),
      }
    }
    if (limits.tpm !== null && used.tokens >= limits.tpm)
      return this.#overTokens(w, second, used.tokens - limits.tpm + 1)
    w.requests[this.#bucket(w, second)]!++
    return { ok: true }
  }

  /**
   * Count a request's input tokens once they are known; refused when they would take the minute past its
   * tokens-per-minute limit (unless the minute was empty: one request larger than the limit still runs).
   */
  addInput(agentId: string, tpm: number | null, inputTokens: number): RateDecision {
    if (tpm === null && !this.#windows.has(agentId)) return { ok: true }
    const second = Math.floor(this.now() / 1000)
    const w = this.#window(agentId)
    if (tpm !== null) {
      const used = this.#sums(w, second).tokens
      if (used > 0 && used + inputTokens > tpm) return this.#overTokens(w, second, used + inputTokens - tpm)
    }
    w.tokens[this.#bucket(w, second)]! += inputTokens
    return { ok: true }
  }

  #overTokens(w: Window, second: number, excess: number): RateDecision {
    return {
      ok: false,
      limit: 'tokens_per_minute',
      retryAfterSeconds: this.#retryAfter(w, second, (i) => w.tokens[i]!, excess),
    }
  }

  /** Count the output tokens of a settled request. */
  addTokens(agentId: string, tokens: number): void {
    if (tokens <= 0 || !this.#windows.has(agentId)) return
    const w = this.#window(agentId)
    const i = this.#bucket(w, Math.floor(this.now() / 1000))
    w.tokens[i]! += tokens
  }

  /** Seconds until enough of the window has expired to free `excess`. */
  #retryAfter(w: Window, second: number, amount: (i: number) => number, excess: number): number {
    let freed = 0
    for (let age = WINDOW_SECONDS - 1; age >= 0; age--) {
      const s = second - age
      const i = ((s % WINDOW_SECONDS) + WINDOW_SECONDS) % WINDOW_SECONDS
      if (w.seconds[i] === s) freed += amount(i)
      if (freed >= excess) return Math.max(1, WINDOW_SECONDS - age)
    }
    return WINDOW_SECONDS
  }
}
