import { describe, expect, it } from 'vitest'
import { type RateDecision, RateLimiter } from '../../src/gateway/rate-limit.js'

function clock(start = Date.parse('2026-12-01T12:00:30.250Z')) {
  const c = { now: start, advance: (ms: number) => (c.now += ms) }
  return c
}

const refusal = (d: RateDecision) => {
  if (d.ok) throw new Error('expected a refusal')
  return d
}

describe('rate limits (GCRA: a burst of the limit, then refilled continuously)', () => {
  it('tells a request over its requests per minute the real wait: 60/N seconds after a burst, not a minute', () => {
    const c = clock()
    const limiter = new RateLimiter(() => c.now)
    for (let i = 0; i < 6; i++) expect(limiter.admit('a', { rpm: 6, tpm: null }).ok).toBe(true)
    const refused = refusal(limiter.admit('a', { rpm: 6, tpm: null }))
    expect(refused.limit).toBe('requests_per_minute')
    // A sliding minute would say 60 s (the first of the burst must age out); one request refills in 10 s.
    expect(refused.retryAfterMs).toBe(10_000)
    expect(refused.retryAfterSeconds).toBe(10)
    c.advance(9_000)
    expect(refusal(limiter.admit('a', { rpm: 6, tpm: null })).retryAfterSeconds).toBe(1)
    c.advance(1_000)
    expect(limiter.admit('a', { rpm: 6, tpm: null }).ok).toBe(true)
    // Other agents are untouched.
    expect(limiter.admit('b', { rpm: 6, tpm: null }).ok).toBe(true)
  })

  it('a request retried after Retry-After is admitted, and the long-run rate stays at the limit', () => {
    const c = clock()
    const limiter = new RateLimiter(() => c.now)
    let admitted = 0
    const end = c.now + 10 * 60_000
    while (c.now < end) {
      const d = limiter.admit('a', { rpm: 30, tpm: null })
      if (d.ok) admitted++
      else {
        c.advance(d.retryAfterMs)
        expect(limiter.admit('a', { rpm: 30, tpm: null }).ok).toBe(true)
        admitted++
      }
      c.advance(100)
    }
    // Ten minutes at 30/min, plus the first burst.
    expect(admitted).toBeLessThanOrEqual(30 * 10 + 30)
    expect(admitted).toBeGreaterThanOrEqual(30 * 10)
  })

  it('tokens per minute: input at admission, output at settlement, and the wait until they have drained', () => {
    const c = clock()
    const limiter = new RateLimiter(() => c.now)
    const limits = { rpm: null, tpm: 1_200 }
    expect(limiter.admit('a', limits).ok).toBe(true)
    expect(limiter.addInput('a', 1_200, 200).ok).toBe(true)
    limiter.addTokens('a', 1_000)
    // 1,200 in use: nothing more until some has drained (20 tokens a second).
    const full = refusal(limiter.admit('a', limits))
    expect(full.limit).toBe('tokens_per_minute')
    expect(full.retryAfterSeconds).toBe(1)
    c.advance(5_000)
    expect(limiter.admit('a', limits).ok).toBe(true)
    // 1,100 in use: 300 more need 200 to drain first, 10 s.
    const input = refusal(limiter.addInput('a', 1_200, 300))
    expect(input.retryAfterMs).toBe(10_000)
    c.advance(10_000)
    expect(limiter.addInput('a', 1_200, 300).ok).toBe(true)
  })

  it('one request larger than the limit runs once nothing is in use, and is told when that is', () => {
    const c = clock()
    const limiter = new RateLimiter(() => c.now)
    expect(limiter.admit('a', { rpm: null, tpm: 600 }).ok).toBe(true)
    expect(limiter.addInput('a', 600, 5_000).ok).toBe(true)
    c.advance(60_000)
    // 4,400 still in use at 10 a second: the next request waits until it is below the limit.
    expect(refusal(limiter.admit('a', { rpm: null, tpm: 600 })).retryAfterMs).toBe(380_001)
    c.advance(380_001)
    expect(limiter.admit('a', { rpm: null, tpm: 600 }).ok).toBe(true)
    // A 1,000-token request fits once nothing is in use: another minute.
    expect(refusal(limiter.addInput('a', 600, 1_000)).retryAfterSeconds).toBe(60)
  })

  it('a limit removed and set again starts from nothing', () => {
    const c = clock()
    const limiter = new RateLimiter(() => c.now)
    expect(limiter.admit('a', { rpm: 1, tpm: null }).ok).toBe(true)
    expect(limiter.admit('a', { rpm: 1, tpm: null }).ok).toBe(false)
    expect(limiter.admit('a', { rpm: null, tpm: null }).ok).toBe(true)
    expect(limiter.admit('a', { rpm: 1, tpm: null }).ok).toBe(true)
  })
})
