import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StreamMeter } from '../../src/gateway/stream-meter.js'

const chunk = (content: string) =>
  `data: {"choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}}}]}\n\n`
const usage = 'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}\n\n'
const openaiStream = `${chunk('Hel')}${chunk('lo')}${chunk('!')}${usage}data: [DONE]\n\n`

describe('StreamMeter', () => {
  it('reads OpenAI usage, hides the usage chunk it asked for, and holds back [DONE]', () => {
    const meter = new StreamMeter('openai-chat', true)
    const out = meter.push(openaiStream) + meter.end()
    expect(out).toBe(`${chunk('Hel')}${chunk('lo')}${chunk('!')}`)
    expect(meter.held).toBe('data: [DONE]\n\n')
    expect(meter.usage).toEqual({
      input_tokens: 7,
      output_tokens: 3,
      cached_input_tokens: 0,
      cache_write_tokens: 0,
    })
    expect(meter.text).toBe('Hello!')
  })

  it('gives the same result however the bytes are split, CRLF included', () => {
    const crlf = openaiStream.replaceAll('\n', '\r\n')
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: crlf.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b)
        const meter = new StreamMeter('openai-chat', false)
        let out = ''
        let last = 0
        for (const p of [...points, crlf.length]) {
          out += meter.push(crlf.slice(last, p))
          last = p
        }
        out += meter.end()
        expect(out + meter.held).toBe(crlf)
        expect(meter.usage?.output_tokens).toBe(3)
        expect(meter.text).toBe('Hello!')
      }),
    )
  })

  it('reads Anthropic usage from message_start and message_delta, and knows the input of a cut stream', () => {
    const meter = new StreamMeter('anthropic-messages', false)
    meter.push(
      'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":12,"cache_read_input_tokens":4,"output_tokens":1}}}\n\n' +
        'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}\n\n',
    )
    expect(meter.usage).toBeUndefined()
    expect(meter.partialInput).toMatchObject({ input_tokens: 16, cached_input_tokens: 4 })
    meter.push(
      'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":9}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
    )
    expect(meter.usage).toMatchObject({ input_tokens: 16, output_tokens: 9 })
    expect(meter.held).toContain('message_stop')
  })

  it('passes through what it cannot parse', () => {
    const meter = new StreamMeter('openai-chat', true)
    expect(meter.push(': keep-alive\n\ndata: not json\n\n')).toBe(': keep-alive\n\ndata: not json\n\n')
  })
})
