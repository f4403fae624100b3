import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Agent, request } from 'undici'

/** How often each fault strikes a request (0..1); what is left passes through as it came. */
export interface Faults {
  /** The request never reaches the server; the connection is cut. */
  drop?: number
  /** The server handles the request, and its answer is lost: the connection is cut instead. */
  dropAnswer?: number
  /** Held up to `delayMs` before it goes on. */
  delay?: number
  /** Sent to the server twice: the second copy later, after the answer to the first went back. */
  duplicate?: number
  /** Held until the next request has gone through (or `holdMs`), so the two arrive swapped. */
  reorder?: number
}

export interface FaultProxyOptions extends Faults {
  target: string
  delayMs?: number
  holdMs?: number
  /** Seed of the proxy's own random numbers, so that a run's faults can be told again. */
  seed?: number
}

type Fault = 'drop' | 'dropAnswer' | 'delay' | 'duplicate' | 'reorder' | 'pass' | 'down'

/**
 * A small HTTP proxy between team gateways and `iron serve` that misbehaves as networks do: it drops
 * requests, loses answers after the server acted on them, delays, duplicates and reorders, at rates set
 * per fault; `down()` makes it cut every connection, as a server that is gone would look.
 */
export async function startFaultProxy(options: FaultProxyOptions) {
  let faults: Faults = { ...options }
  let isDown = false
  let seed = options.seed ?? 1
  const random = () => {
    // mulberry32: small, seeded, good enough to spread faults.
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const counts: Record<Fault, number> = {
    drop: 0,
    dropAnswer: 0,
    delay: 0,
    duplicate: 0,
    reorder: 0,
    pass: 0,
    down: 0,
  }
  const dispatcher = new Agent({ keepAliveTimeout: 5_000 })
  const target = new URL(options.target)
  const sockets = new Set<Socket>()
  let held: Array<() => void> = []
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

  const pick = (): Fault => {
    if (isDown) return 'down'
    let roll = random()
    for (const fault of ['drop', 'dropAnswer', 'delay', 'duplicate', 'reorder'] as const) {
      const rate = faults[fault] ?? 0
      if (roll < rate) return fault
      roll -= rate
    }
    return 'pass'
  }

  const forward = async (req: IncomingMessage, body: Buffer) => {
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(req.headers))
      if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name))
        headers[name] = value
    const answer = await request(new URL(req.url ?? '/', target), {
      method: req.method as 'POST',
      headers,
      body: body.length ? body : undefined,
      dispatcher,
    })
    const text = await answer.body.arrayBuffer()
    return { status: answer.statusCode, headers: answer.headers, body: Buffer.from(text) }
  }

  const cut = (res: ServerResponse) => res.socket?.destroy()

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const fault = pick()
    counts[fault]++
    if (fault === 'down' || fault === 'drop') return cut(res)
    if (fault === 'delay') await sleep(random() * (options.delayMs ?? 300))
    if (fault === 'reorder') {
      await new Promise<void>((resolve) => {
        held.push(resolve)
        setTimeout(resolve, options.holdMs ?? 200)
      })
    } else {
      // This request goes ahead of any held one: release them after it has been forwarded.
      const waiting = held
      held = []
      setImmediate(() => {
        for (const release of waiting) release()
      })
    }
    let answer: Awaited<ReturnType<typeof forward>>
    try {
      answer = await forward(req, body)
    } catch {
      return cut(res)
    }
    if (fault === 'dropAnswer') return cut(res)
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(answer.headers))
      if (value !== undefined && !['connection', 'keep-alive', 'transfer-encoding'].includes(name))
        headers[name] = value
    res.writeHead(answer.status, headers)
    res.end(answer.body)
    if (fault === 'duplicate') {
      await sleep(random() * (options.delayMs ?? 300))
      await forward(req, body).catch(() => {})
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => cut(res))
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    /** Cut every connection, open and new, until `up()`. */
    down() {
      isDown = true
      for (const socket of sockets) socket.destroy()
    },
    up() {
      isDown = false
    },
    /** Other fault rates from now on (all zero: a clean network). */
    set(next: Faults) {
      faults = { ...next }
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((r) => server.close(r))
      await dispatcher.close()
    },
  }
}

export type FaultProxy = Awaited<ReturnType<typeof startFaultProxy>>
