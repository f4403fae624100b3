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
 * Requests count when admitted; tokens count the input at admission and the output at settlement.
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

  /** Admit one request with `inputTokens`, or say how long to wait. */
  admit(
    agentId: string,
    limits: { rpm: number | null; tpm: number | null },
    inputTokens: number,
  ): RateDecision {
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
    if (limits.tpm !== null && used.tokens + inputTokens > limits.tpm && used.tokens > 0) {
      return {
        ok: false,
        limit: 'tokens_per_minute',
        retryAfterSeconds: this.#retryAfter(
          w,
          second,
          (i) => w.tokens[i]!,
          used.tokens + inputTokens - limits.tpm,
        ),
      }
    }
    const i = this.#bucket(w, second)
    w.requests[i]!++
    w.tokens[i]! += inputTokens
    return { ok: true }
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
