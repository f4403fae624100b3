import type { Env } from '../../src/config/paths.js'
import { MemoryVault } from '../../src/config/vault.js'
import type { EventStreamOptions } from '../../src/server/events.js'
import { type RunningServer, startServer } from '../../src/server/server.js'
import type { UserRole } from '../../src/services/api.js'
import { tempContext } from './temp.js'

export const PASSWORD = 'correct horse battery staple'

let signIns = 0

export interface Answer<T = unknown> {
  status: number
  headers: Headers
  body: T
  text: string
}

/**
 * A real `iron serve` on 127.0.0.1 (port 0) over a fresh temporary store, with a clock tests can move, and
 * a small client: `call(method, path, { token, body, headers })`.
 */
export async function tempServer(
  options: { events?: EventStreamOptions; bodyTimeoutMs?: number; leaseReclaimMs?: number; env?: Env } = {},
) {
  const clock = { now: Date.parse('2026-03-10T12:00:00Z') }
  const { ctx, dirs } = await tempContext(options.env ?? {}, new MemoryVault())
  Object.defineProperty(ctx, 'now', { value: () => clock.now })
  const server: RunningServer = await startServer({
    ctx,
    host: '127.0.0.1',
    port: 0,
    version: '0.0.0-test',
    drainMs: 1_000,
    events: options.events,
    bodyTimeoutMs: options.bodyTimeoutMs,
    leaseReclaimMs: options.leaseReclaimMs,
  })
  const cp = server.cp

  const call = async <T = unknown>(
    method: string,
    path: string,
    init: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer<T>> => {
    const headers: Record<string, string> = { ...init.headers }
    if (init.token) headers.authorization = `Bearer ${init.token}`
    let payload: string | undefined = init.raw
    if (init.body !== undefined) {
      payload = JSON.stringify(init.body)
      headers['content-type'] ??= 'application/json'
    }
    const response = await fetch(`${server.url}${path}`, { method, headers, body: payload })
    const text = await response.text()
    let body: unknown = text
    if ((response.headers.get('content-type') ?? '').startsWith('application/json') && text)
      body = JSON.parse(text)
    return { status: response.status, headers: response.headers, body: body as T, text }
  }

  /** A user made on the store (as `iron users create` does), and a session of theirs. */
  const addUser = async (name: string, role: UserRole = 'user') => {
    await cp.users.create({ name, role, password: PASSWORD })
    const login = await cp.auth.login({ name, password: PASSWORD, ip: `198.51.100.${++signIns % 250}` })
    return { name, token: login.token, user: login.user }
  }

  return { server, cp, ctx, dirs, clock, call, addUser, close: () => server.close() }
}

export type TempServer = Awaited<ReturnType<typeof tempServer>>
