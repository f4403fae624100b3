import { afterEach, describe, expect, it } from 'vitest'
import { homeEnv, runIron } from '../helpers/cli.js'
import { type TempServer, tempServer } from '../helpers/serve.js'
import { tempDir } from '../helpers/temp.js'

interface ErrorAnswer {
  error: { code: string; message: string }
}

/** A real `iron serve` on 127.0.0.1; the test's fetch is the "proxy" in front of it when 127.0.0.1 is trusted. */
let t: TempServer | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

let attempt = 0
/** A failed sign-in (a name of its own, so that only the per-address limit can refuse it). */
const failedLogin = async (server: TempServer, forwardedFor?: string) => {
  const answer = await server.call<ErrorAnswer>('POST', '/api/v1/auth/login', {
    body: { name: `nobody-${++attempt}`, password: 'not the password at all' },
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  })
  return answer.status
}

/** The addresses the audit records of sign-ins name, in order. */
const auditedIps = (server: TempServer) =>
  (
    server.ctx
      .db()
      .prepare("SELECT data FROM audit_events WHERE action = 'auth.login' ORDER BY seq")
      .all() as { data: string }[]
  ).map((row) => (JSON.parse(row.data) as { ip: string }).ip)

describe('iron serve behind proxies (serve.trusted_proxies)', () => {
  it('without it, ignores X-Forwarded-For: a client cannot pick its own login-limit bucket', async () => {
    t = await tempServer()
    const statuses: number[] = []
    for (let n = 0; n < 11; n++) statuses.push(await failedLogin(t, `203.0.113.${n + 1}`))
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401))
    expect(statuses[10]).toBe(429)
    expect(new Set(auditedIps(t))).toEqual(new Set(['127.0.0.1']))
  })

  it('with 127.0.0.1 trusted, clients behind it get limits of their own and audit records name them', async () => {
    t = await tempServer({ env: { IRON_SERVE_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8' } })
    const a: number[] = []
    for (let n = 0; n < 11; n++) a.push(await failedLogin(t, '198.51.100.10'))
    expect(a.slice(0, 10)).toEqual(Array(10).fill(401))
    expect(a[10]).toBe(429)
    // Another client behind the same proxy is not held back by the first.
    expect(await failedLogin(t, '198.51.100.20')).toBe(401)
    // Through two trusted hops, the client is still the one the outer proxy saw.
    expect(await failedLogin(t, '2001:db8::7, 10.1.2.3')).toBe(401)
    const ips = auditedIps(t)
    expect(ips.slice(0, 11)).toEqual(Array(11).fill('198.51.100.10'))
    expect(ips.slice(11)).toEqual(['198.51.100.20', '2001:db8::7'])

    // A session records the forwarded address too.
    await t.cp.users.create({ name: 'ada', role: 'user', password: 'ada has a long passphrase' })
    const login = await t.call<{ token: string }>('POST', '/api/v1/auth/login', {
      body: { name: 'ada', password: 'ada has a long passphrase' },
      headers: { 'x-forwarded-for': '192.0.2.44' },
    })
    expect(login.status).toBe(200)
    expect(auditedIps(t).at(-1)).toBe('192.0.2.44')
  })

  it('takes the first untrusted hop from the right: a spoofed chain resolves to the address the proxy saw', async () => {
    t = await tempServer({ env: { IRON_SERVE_TRUSTED_PROXIES: '127.0.0.1' } })
    expect(await failedLogin(t, '1.2.3.4, 5.6.7.8')).toBe(401)
    expect(auditedIps(t)).toEqual(['5.6.7.8'])
    // Whatever the client puts on the left, it stays in the bucket of 5.6.7.8.
    const statuses: number[] = []
    for (let n = 0; n < 10; n++) statuses.push(await failedLogin(t, `9.9.9.${n}, 5.6.7.8`))
    expect(statuses.slice(0, 9)).toEqual(Array(9).fill(401))
    expect(statuses[9]).toBe(429)
    expect(new Set(auditedIps(t))).toEqual(new Set(['5.6.7.8']))
  })

  it('never believes a malformed X-Forwarded-For: the trusted peer is the client', async () => {
    t = await tempServer({ env: { IRON_SERVE_TRUSTED_PROXIES: '127.0.0.1' } })
    expect(await failedLogin(t, 'not-an-address')).toBe(401)
    expect(await failedLogin(t, '5.6.7.8, <script>')).toBe(401)
    expect(await failedLogin(t, Array.from({ length: 30 }, (_, i) => `10.0.0.${i}`).join(', '))).toBe(401)
    expect(await failedLogin(t, `${'1.1.1.1,'.repeat(300)}5.6.7.8`)).toBe(401)
    expect(auditedIps(t)).toEqual(Array(4).fill('127.0.0.1'))
  })

  it('refuses to start on a bad value in the environment', async () => {
    await expect(tempServer({ env: { IRON_SERVE_TRUSTED_PROXIES: '10.0.0.0/99' } })).rejects.toMatchObject({
      code: 'INVALID_CONFIG_VALUE',
    })
  })

  it('iron config set refuses a bad value with a clear error and exit 2, and keeps a good one', async () => {
    const env = homeEnv(tempDir('iron-proxies'))
    const bad = await runIron(['config', 'set', 'serve.trusted_proxies', 'nonsense'], { env })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("'nonsense' is not an IP address")
    expect(bad.stderr).toContain('serve.trusted_proxies')
    const good = await runIron(['config', 'set', 'serve.trusted_proxies', '10.0.0.0/8,fd00::/8'], { env })
    expect(good.code).toBe(0)
    const shown = await runIron(['config', 'get', 'serve.trusted_proxies'], { env })
    expect(shown.stdout.trim()).toBe('10.0.0.0/8, fd00::/8')
  })
})
