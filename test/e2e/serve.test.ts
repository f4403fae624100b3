import { execFileSync, spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { BIN, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

/** `iron serve` as an admin runs it: the refusals, a start, its health, a sign-in, SIGTERM and SIGINT. */

const PASSWORD = 'correct horse battery staple'

interface Spawned {
  url: string
  stderr: () => string
  stdout: () => string
  exited: Promise<number | string>
  kill: (signal: NodeJS.Signals) => void
}

const running: Spawned[] = []
afterEach(async () => {
  for (const s of running.splice(0)) {
    s.kill('SIGKILL')
    await s.exited
  }
})

function spawnServe(args: string[], env: NodeJS.ProcessEnv): Promise<Spawned> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  )
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`iron serve did not start: ${err}`)), 30_000)
    child.stderr.on('data', (d) => {
      err += d
      const match = /listening on (https?:\/\/\S+)/.exec(err)
      if (match) {
        clearTimeout(timer)
        const spawned = {
          url: match[1]!,
          stderr: () => err,
          stdout: () => out,
          exited,
          kill: (signal: NodeJS.Signals) => child.kill(signal),
        }
        running.push(spawned)
        resolve(spawned)
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`iron serve exited (${code}) before listening: ${err}`))
    })
  })
}

const home = () => {
  const env = { ...process.env, ...homeEnv(tempDir('iron-serve')) }
  for (const key of Object.keys(env)) if (key.startsWith('IRON_ADMIN')) delete env[key]
  return env
}

describe('iron serve', () => {
  it('refuses to listen beyond this machine over plain HTTP, and says why and what to do', async () => {
    const env = home()
    const result = await runIron(['serve', '--host', '0.0.0.0', '--port', '0'], { env })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('INSECURE_HTTP_REFUSED')
    expect(result.stderr).toMatch(/passwords and session tokens would cross the network/)
    expect(result.stderr).toMatch(/--tls-cert and --tls-key/)
    expect(result.stderr).toMatch(/--insecure-http/)
    const half = await runIron(['serve', '--tls-cert', '/nonexistent.pem'], { env })
    expect(half.code).toBe(2)
  })

  it('refuses a store without an admin, and says how to make one', async () => {
    const env = home()
    const result = await runIron(['serve', '--port', '0'], { env })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('NO_ADMIN')
    expect(result.stderr).toContain('iron users create NAME --admin')
    const json = await runIron(['serve', '--port', '0', '--json'], { env })
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'NO_ADMIN', exit_code: 1 })
    const missing = await runIron(['serve', '--port', '0', '--init-admin-from-env'], {
      env: { ...env, IRON_ADMIN_NAME: 'admin' },
    })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('IRON_ADMIN_PASSWORD')
  })

  it('starts with the admin from the environment once, serves health and sign-in, and stops on SIGTERM', async () => {
    const env = home()
    const first = await spawnServe(['--port', '0', '--init-admin-from-env'], {
      ...env,
      IRON_ADMIN_NAME: 'admin',
      IRON_ADMIN_PASSWORD: PASSWORD,
    })
    expect(first.stderr()).toContain('Created the admin admin from IRON_ADMIN_NAME and IRON_ADMIN_PASSWORD')
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const health = await request(`${first.url}/api/health`)
    expect(health.statusCode).toBe(200)
    expect(await health.body.json()).toMatchObject({ status: 'ok', store: 'sqlite' })
    const login = await request(`${first.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'admin', password: PASSWORD }),
    })
    expect(login.statusCode).toBe(200)
    const { token } = (await login.body.json()) as { token: string }
    const me = await request(`${first.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } })
    expect(await me.body.json()).toMatchObject({ mode: 'server', role: 'admin', actor: 'user:admin' })

    // The port is taken: a second server says by what.
    const port = new URL(first.url).port
    const second = await runIron(['serve', '--port', port], { env })
    expect(second.code).toBe(1)
    expect(second.stderr).toContain('PORT_IN_USE')
    expect(second.stderr).toContain(`Port ${port} on 127.0.0.1 is taken by another iron serve`)

    first.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    expect(first.stderr()).toContain('Stopped.')

    // The admin exists now: the variables are not used again, and the users command sees one admin.
    const again = await spawnServe(['--port', '0', '--init-admin-from-env', '--json'], {
      ...env,
      IRON_ADMIN_NAME: 'someone-else',
      IRON_ADMIN_PASSWORD: PASSWORD,
    })
    expect(again.stderr()).toContain('This store has an admin already')
    again.kill('SIGINT')
    expect(await again.exited).toBe(130)
    expect(JSON.parse(again.stdout())).toMatchObject({ url: again.url, tls: false, admin_created: null })
    const users = await runIron(['users', 'list', '--json'], { env })
    expect((JSON.parse(users.stdout) as Array<{ name: string }>).map((u) => u.name)).toEqual(['admin'])
  })

  it('serves HTTPS with --tls-cert and --tls-key, on any address', async () => {
    const env = home()
    const dir = tempDir('iron-tls')
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
      ],
      { stdio: 'ignore' },
    )
    expect(existsSync(cert) && existsSync(key)).toBe(true)
    const created = await runIron(['users', 'create', 'root', '--admin', '--password-stdin'], {
      env,
      input: `${PASSWORD}\n`,
    })
    expect(created.code).toBe(0)
    const served = await spawnServe(
      ['--host', '0.0.0.0', '--port', '0', '--tls-cert', cert, '--tls-key', key],
      env,
    )
    expect(served.url).toMatch(/^https:\/\//)
    const port = new URL(served.url).port
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } })
    const health = await request(`https://127.0.0.1:${port}/api/health`, { dispatcher })
    expect(health.statusCode).toBe(200)
    expect(health.headers['strict-transport-security']).toMatch(/max-age=/)
    await health.body.json()
    await dispatcher.close()
    served.kill('SIGTERM')
    expect(await served.exited).toBe(0)

    writeFileSync(join(dir, 'empty.pem'), '')
    const broken = await runIron(
      ['serve', '--port', '0', '--tls-cert', join(dir, 'missing.pem'), '--tls-key', key],
      { env },
    )
    expect(broken.code).toBe(2)
    expect(broken.stderr).toContain('TLS_FILE_UNREADABLE')
  })
})
