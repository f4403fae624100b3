import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
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

describe('a stream whose first event is slow', () => {
  it('has its headers at the client before the first event comes', async () => {
    // An upstream that answers with its SSE headers at once and sends its events only when told.
    let release: () => void = () => {}
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    const events = [
      `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content: 'slow hello' }, finish_reason: null }] })}\n\n`,
      `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
      `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } })}\n\n`,
      'data: [DONE]\n\n',
    ]
    const upstream = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.flushHeaders()
        void released.then(() => res.end(events.join('')))
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = upstream.address() as AddressInfo
      await gw.cp.providers.add({
        name: 'slow',
        kind: 'openai',
        base_url: `http://127.0.0.1:${port}/v1`,
        api_key: 'sk-slow-upstream-key',
      })
      await gw.cp.agents.create({ name: 'patient', allowed_providers: ['slow'] })
      await gw.cp.budgets.set('patient', { limit_micros: 1_000_000 })
      const token = (await gw.cp.tokens.issue('patient')).token
      gw.running.gateway.invalidate()
      const response = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          stream: true,
          messages: [{ role: 'user', content: 'hi' }],
        }),
      })
      // The headers arrived while the upstream has sent no event yet.
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toContain('text/event-stream')
      release()
      const text = await response.text()
      const content = text
        .split('\n\n')
        .filter((e) => e.startsWith('data: {'))
        .map(
          (e) =>
            (JSON.parse(e.slice(6)) as { choices: Array<{ delta?: { content?: string } }> }).choices[0]?.delta
              ?.content ?? '',
        )
        .join('')
      expect(content).toBe('slow hello')
      expect(text).toContain('data: [DONE]')
    } finally {
      release()
      await new Promise((resolve) => upstream.close(resolve))
    }
  })
})
