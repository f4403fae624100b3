import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestGateway } from '../helpers/gateway.js'

let gw: Awaited<ReturnType<typeof startTestGateway>>
let openai: OpenAI
beforeAll(async () => {
  gw = await startTestGateway()
  openai = new OpenAI({ apiKey: gw.token, baseURL: `${gw.url}/v1`, maxRetries: 0 })
})
afterAll(async () => gw?.close())

describe('a streamed answer through the output firewall', () => {
  it('reaches the client word by word, not all at once at the end', async () => {
    // Under 256 characters: the firewall used to hold all of it back until the stream ended.
    const reply =
      'Sure, here is a short answer that a model might stream back one token at a time to the agent.'
    const stream = await openai.chat.completions.create(
      { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'x-mock-reply': reply } },
    )
    const pieces: string[] = []
    for await (const chunk of stream) {
      const content = chunk.choices[0]?.delta?.content
      if (content) pieces.push(content)
    }
    expect(pieces.join('')).toBe(reply)
    // The mock streams 4 characters at a time; each word goes on once the next one has started (a piece of 4
    // characters can finish two short words).
    expect(pieces.length).toBeGreaterThan(reply.length / 8)
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThanOrEqual(16)
  })
})
