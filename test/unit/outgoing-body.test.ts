import { describe, expect, it } from 'vitest'
import { openaiChat } from '../../src/gateway/adapters/openai-chat.js'
import type { Json } from '../../src/gateway/adapters/types.js'
import type { Exchange } from '../../src/gateway/pipeline/exchange.js'
import { outgoingBody } from '../../src/gateway/pipeline/forward.js'

/** The part of an exchange outgoingBody reads, for a chat request as the client sent it. */
function exchange(raw: string, options: { model?: string; redacted?: boolean } = {}): Exchange {
  const body = JSON.parse(raw) as Json
  const info = openaiChat.read(body)
  if (typeof info === 'string') throw new Error(info)
  return {
    adapter: openaiChat,
    raw: Buffer.from(raw),
    body,
    info,
    model: options.model ?? info.model,
    redacted: options.redacted ?? false,
    price: { model: info.model } as Exchange['price'],
    provider: { id: 'p', name: 'openai', kind: 'openai', base_url: null },
    outputCap: 500,
  } as unknown as Exchange
}
const sent = (ex: Exchange) => String(ex.outgoing)

describe('the body sent upstream', () => {
  it("is the client's own bytes with the fields it lacks added at the end", () => {
    const raw = '{ "model" : "gpt-4o-mini",\n  "messages": [{"role":"user","content":"caf\\u00e9 1.0e3"}] }\n'
    const ex = exchange(raw)
    outgoingBody(ex)
    expect(sent(ex)).toBe(
      '{ "model" : "gpt-4o-mini",\n  "messages": [{"role":"user","content":"caf\\u00e9 1.0e3"}] ,"max_completion_tokens":500}',
    )
    expect(JSON.parse(sent(ex))).toEqual(ex.body)
  })

  it('asks a stream for its usage the same way', () => {
    const ex = exchange('{"model":"gpt-4o-mini","stream":true,"messages":[]}')
    outgoingBody(ex)
    expect(sent(ex)).toBe(
      '{"model":"gpt-4o-mini","stream":true,"messages":[],"max_completion_tokens":500,"stream_options":{"include_usage":true}}',
    )
    expect(ex.clientWantsUsage).toBe(false)
  })

  it('is written anew when a field it has must change', () => {
    const cases: Array<[string, { model?: string; redacted?: boolean }]> = [
      ['{"model":"gpt-4o-mini","max_tokens":100000,"messages":[]}', {}],
      ['{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":false},"messages":[]}', {}],
      ['{"model":"gpt-4o-mini","messages":[]}', { model: 'gpt-4o-mini-2024-07-18' }],
      ['{"model":"gpt-4o-mini","messages":[]}', { redacted: true }],
    ]
    for (const [raw, options] of cases) {
      const ex = exchange(raw, options)
      outgoingBody(ex)
      expect(sent(ex)).toBe(JSON.stringify(ex.body))
      expect((ex.body as Json).model).toBe(options.model ?? 'gpt-4o-mini')
    }
  })

  it('never holds a field twice, whatever the client wrote (a duplicate may be read either way upstream)', () => {
    // JSON.parse keeps the last of duplicate keys: the field is the client's, so the body is written anew.
    const ex = exchange(
      '{"model":"gpt-4o-mini","max_completion_tokens":99999,"max_completion_tokens":null,"messages":[]}',
    )
    outgoingBody(ex)
    expect(sent(ex).match(/max_completion_tokens/g)).toHaveLength(1)
    expect(JSON.parse(sent(ex)).max_completion_tokens).toBe(500)
  })

  it('is the raw body when nothing changes', () => {
    const ex = exchange('{"model":"gpt-4o-mini","max_completion_tokens":100,"messages":[]}')
    outgoingBody(ex)
    expect(ex.outgoing).toBe(ex.raw)
  })
})
