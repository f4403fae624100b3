import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { readText, Upstreams } from '../../src/gateway/upstream.js'

const servers: Server[] = []
const upstreams = new Upstreams()
afterEach(async () => {
  await upstreams.close()
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})

/** A provider on loopback that answers with `write(res)`; returns its base URL. */
async function provider(write: (res: import('node:http').ServerResponse) => void): Promise<URL> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => write(res))
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`)
}

const send = (url: URL, signal = new AbortController().signal) =>
  upstreams.send({ url, headers: { 'content-type': 'application/json' }, body: '{}', signal })

describe('upstream bodies', () => {
  it('hand every chunk over in order, also to a reader that makes the upstream wait', async () => {
    const parts = Array.from({ length: 200 }, (_, i) => `${String(i).padStart(4, '0')}:${'x'.repeat(4000)}\n`)
    const url = await provider((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      for (const part of parts) res.write(part)
      res.end()
    })
    const response = await send(url)
    let text = ''
    let waits = 0
    await response.body.each((chunk) => {
      text += chunk.toString()
      if (++waits % 3 === 0) return new Promise((resolve) => setTimeout(resolve, 2))
      return undefined
    })
    expect(text).toBe(parts.join(''))
  })

  it('cut the upstream when the reader stops, and fail a body that breaks off', async () => {
    let closed: Promise<void> = Promise.resolve()
    const url = await provider((res) => {
      closed = new Promise((resolve) => res.on('close', () => resolve()))
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: one\n\n')
      const timer = setInterval(() => res.write('data: more\n\n'), 5)
      res.on('close', () => clearInterval(timer))
    })
    const response = await send(url)
    const seen: string[] = []
    await response.body.each((chunk) => {
      seen.push(chunk.toString())
      return false
    })
    // One read reached the reader (under load it may already hold more than the first event), and no other.
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatch(/^data: one\n\n/)
    await closed

    const broken = await provider((res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      res.write('{"partial":', () => res.destroy())
    })
    await expect(readText((await send(broken)).body, 1024)).rejects.toThrow()
  })

  it('refuse a body beyond the limit', async () => {
    const url = await provider((res) => res.end('y'.repeat(10_000)))
    await expect(readText((await send(url)).body, 1000)).rejects.toThrow(/more than the gateway accepts/)
  })
})
