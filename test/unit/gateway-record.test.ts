import { describe, expect, it } from 'vitest'
import { canonicalJson } from '../../src/core/canonical-json.js'
import { newRecord } from '../../src/gateway/record.js'
import { recordData, recordDataJson } from '../../src/services/local/request-audit.js'

// A request's audit event is hashed over its data's canonical JSON: the fast writer must give the same text.
describe('a request record as audit data', () => {
  const full = () => {
    const r = newRecord('chat', 'gw:test')
    Object.assign(r, {
      agent_id: 'agt_x',
      token_id: 'tok_x',
      model: 'gpt-4o-mini',
      provider: 'up "quoted" \u2028 é',
      stream: 1,
      status: 200,
      outcome: 'ok',
      input_tokens: 12,
      output_tokens: 0,
      cached_tokens: null,
      cost_micros: 17,
      cost_known: 0,
      reserved_micros: 900,
      latency_ms: 1.234,
      upstream_ms: 0.5,
      overhead_ms: Number.NaN,
      prompt_sha256: 'a'.repeat(64),
      response_sha256: null,
    })
    return r
  }

  it('has its keys in canonical order', () => {
    const keys = Object.keys(recordData(full()))
    expect(keys).toEqual([...keys].sort())
    expect(keys).toHaveLength(21)
  })

  it('is written as its canonical JSON, with and without findings', () => {
    const plain = full()
    expect(recordDataJson(plain)).toBe(canonicalJson(recordData(plain)))
    expect(JSON.parse(recordDataJson(plain))).toMatchObject({
      stream: true,
      cost_known: false,
      overhead_ms: null,
    })
    const found = full()
    found.findings = {
      output: {
        items: [
          { sha256: 'b'.repeat(64), path: null, end: 9, start: 1, category: 'email', action: 'redact' },
        ],
        error: null,
        counts: { email: 1 },
        blocked: [],
      },
    }
    const text = recordDataJson(found)
    expect(text).toBe(canonicalJson(recordData(found)))
    expect(text).toContain('"items":[{"action":"redact","category":"email","end":9')
  })
})
