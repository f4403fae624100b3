const MINUTE_MS = 60_000

/**
 * What an agent has used, as two levels that drain continuously: requests at its requests per minute,
 * tokens at its tokens per minute (GCRA, the leaky-bucket form of a token bucket). `at` is when they were
 * last drained; the limits are the ones last seen, so output counted at settlement drains at the same rate.
 */
interface Usage {
  requests: number
  tokens: number
  at: number
  rpm: number | null
  tpm: number | null
}

export type RateDecision =
  | { ok: true }
  | {
      ok: false
      limit: 'requests_per_minute' | 'tokens_per_minute'
      /** Whole seconds, at least 1, for `Retry-After`. */
      retryAfterSeconds: number
      /** The same in milliseconds, for `retry-after-ms` (read by the OpenAI SDKs). */
      retryAfterMs: number
    }

/**
 * Per-agent limits, in memory, per gateway process. A limit of N per minute lets a burst of N through, then
 * refills continuously at N per minute, so a refused request is told the real time until it fits (about
 * 60/N seconds after a burst), not the time until a whole minute has passed. Requests count when admitted
 * (before the body is read); tokens count the input once counted and the output at settlement.
 */
export class RateLimiter {
  readonly #usage = new Map<string, Usage>()

  constructor(private readonly now: () => number = Date.now) {}

  /** The agent's usage, drained to now, with its current limits. */
  #drained(agentId: string, rpm: number | null, tpm: number | null): Usage {
    const now = this.now()
    let u = this.#usage.get(agentId)
    if (!u) {
      u = { requests: 0, tokens: 0, at: now, rpm, tpm }
      this.#usage.set(agentId, u)
      return u
    }
    drain(u, now)
    u.rpm = rpm
    u.tpm = tpm
    // A level without a limit is not kept: a limit set later starts from nothing.
    if (rpm === null) u.requests = 0
    if (tpm === null) u.tokens = 0
    return u
  }

  /**
   * Admit one request (before its body is read), or say how long to wait: over its requests per minute,
   * or its tokens per minute already used up.
   */
  admit(agentId: string, limits: { rpm: number | null; tpm: number | null }): RateDecision {
    if (limits.rpm === null && limits.tpm === null) {
      this.#usage.delete(agentId)
      return { ok: true }
    }
    const u = this.#drained(agentId, limits.rpm, limits.tpm)
    if (limits.rpm !== null && u.requests + 1 > limits.rpm)
      return refused('requests_per_minute', u.requests + 1 - limits.rpm, limits.rpm)
    // Strictly below the limit is needed: wait until the level has drained past it.
    if (limits.tpm !== null && u.tokens >= limits.tpm)
      return refused('tokens_per_minute', u.tokens - limits.tpm, limits.tpm, 1)
    if (limits.rpm !== null) u.requests++
    return { ok: true }
  }

  /**
   * Count a request's input tokens once they are known; refused when they would take the agent past its
   * tokens per minute (unless nothing is in use: one request larger than the limit still runs).
   */
  addInput(agentId: string, tpm: number | null, inputTokens: number): RateDecision {
    if (tpm === null) return { ok: true }
    const u = this.#drained(agentId, this.#usage.get(agentId)?.rpm ?? null, tpm)
    if (u.tokens > 0 && u.tokens + inputTokens > tpm)
      return refused('tokens_per_minute', u.tokens - Math.max(tpm - inputTokens, 0), tpm)
    u.tokens += inputTokens
    return { ok: true }
  }

  /** Count the output tokens of a settled request. */
  addTokens(agentId: string, tokens: number): void {
    const u = this.#usage.get(agentId)
    if (tokens <= 0 || !u || u.tpm === null) return
    drain(u, this.now())
    u.tokens += tokens
  }
}

function drain(u: Usage, now: number): void {
  const elapsed = Math.max(now - u.at, 0)
  if (elapsed === 0) return
  if (u.rpm !== null) u.requests = Math.max(u.requests - (elapsed * u.rpm) / MINUTE_MS, 0)
  if (u.tpm !== null) u.tokens = Math.max(u.tokens - (elapsed * u.tpm) / MINUTE_MS, 0)
  u.at = now
}

/** How long until `excess` (plus `margin` ms, for "strictly below") has drained at `perMinute`. */
function refused(
  limit: 'requests_per_minute' | 'tokens_per_minute',
  excess: number,
  perMinute: number,
  margin = 0,
): RateDecision {
  const ms = perMinute > 0 ? Math.ceil((excess * MINUTE_MS) / perMinute) + margin : MINUTE_MS
  return { ok: false, limit, retryAfterMs: ms, retryAfterSeconds: Math.max(1, Math.ceil(ms / 1_000)) }
}
