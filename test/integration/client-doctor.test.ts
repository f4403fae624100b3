import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storeLogin } from '../../src/client/context.js'
import { runTeamDoctor } from '../../src/client/doctor.js'
import { MemoryVault } from '../../src/config/vault.js'
import { startTestServer } from '../contract/harness.js'
import { tempContext } from '../helpers/temp.js'

// iron doctor in team mode: the server answers, and this machine is signed in to it.
describe('doctor with a server', () => {
  let t: Awaited<ReturnType<typeof startTestServer>>
  beforeAll(async () => {
    t = await startTestServer()
    await t.addUser('admin', 'admin')
  })
  afterAll(async () => {
    await t.close()
  })

  const check = (result: Awaited<ReturnType<typeof runTeamDoctor>>, name: string) =>
    result.checks.find((c) => c.name === name)

  it('a machine without a store of its own is fine in team mode; not signed in fails with the login to run', async () => {
    const { ctx } = await tempContext()
    const server = { url: t.server.url, source: 'file' as const }
    const result = await runTeamDoctor(ctx, server, {
      vault: () => new MemoryVault(),
      env: {},
      version: 'contract',
    })
    expect(check(result, 'store')).toMatchObject({
      status: 'ok',
      detail: `none on this machine (commands go to ${t.server.url})`,
    })
    expect(check(result, 'master key')).toBeUndefined()
    expect(check(result, 'server')).toMatchObject({ status: 'ok' })
    expect(check(result, 'session')).toMatchObject({
      status: 'fail',
      hint: `Run: iron login ${t.server.url} (or set IRON_TOKEN to an API token)`,
    })
    expect(result.ok).toBe(false)
    expect(ctx.storeExists).toBe(false)
  })

  it('signed in: the session check names the user and role; a revoked session says to sign in again', async () => {
    const { ctx } = await tempContext()
    const server = { url: t.server.url, source: 'file' as const }
    const vault = new MemoryVault()
    const token = await t.signIn('admin')
    storeLogin(vault, { server: t.server.url, user: 'admin', via: 'session', token, expires_at: null })
    const result = await runTeamDoctor(ctx, server, { vault: () => vault, env: {}, version: 'contract' })
    expect(check(result, 'session')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('user:admin (admin) with a session'),
    })
    expect(result.ok).toBe(true)
    const principal = t.server.cp.auth.authenticate(token)
    await t.server.cp.auth.logout(principal)
    const after = await runTeamDoctor(ctx, server, { vault: () => vault, env: {}, version: 'contract' })
    expect(check(after, 'session')).toMatchObject({
      status: 'fail',
      hint: `Sign in again: iron login ${t.server.url}`,
    })
  })

  it('a server on another version is a warning; one that is not there fails, naming it', async () => {
    const { ctx } = await tempContext()
    const newer = await runTeamDoctor(
      ctx,
      { url: t.server.url, source: 'flag' },
      { vault: () => new MemoryVault(), env: {}, version: '0.0.1' },
    )
    expect(check(newer, 'server')).toMatchObject({
      status: 'warn',
      detail: `${t.server.url}: iron contract, this CLI is 0.0.1`,
    })
    const gone = createServer()
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`
    await new Promise<void>((resolve) => gone.close(() => resolve()))
    const result = await runTeamDoctor(
      ctx,
      { url, source: 'flag' },
      { vault: () => new MemoryVault(), env: {}, version: 'contract' },
    )
    expect(check(result, 'server')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining(`Cannot reach the iron server at ${url}`),
    })
    expect(check(result, 'session')).toBeUndefined()
  })
})
