import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { newId } from '../../src/core/ids.js'
import { hashPassword, needsRehash, SCRYPT_PARAMS, verifyPassword } from '../../src/core/passwords.js'
import { displayPrefix, hashSecret, isWellFormedSecret, newSecret } from '../../src/core/secrets.js'
import type { UserRole } from '../../src/services/api.js'
import { runAs } from '../../src/services/principal.js'
import { ApiTokensRepo, type UserRow, UsersRepo } from '../../src/store/users.js'
import { tempControlPlane } from '../helpers/control-plane.js'

const PASSWORD = 'correct horse battery staple'
const MINUTE = 60_000
const HOUR = 60 * MINUTE

async function failure(promise: Promise<unknown> | (() => unknown), code: string): Promise<IronError> {
  let error: unknown
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (e) {
    error = e
  }
  expect(error, `expected ${code}`).toBeInstanceOf(IronError)
  expect((error as IronError).code).toBe(code)
  expect((error as IronError).exitCode).toBe(4)
  return error as IronError
}

async function setup() {
  const t = await tempControlPlane()
  const users = new UsersRepo(t.ctx.db())
  const addUser = async (
    name: string,
    role: UserRole = 'user',
    fields: Partial<UserRow> & { password?: string | null } = {},
  ): Promise<UserRow> => {
    const { password = PASSWORD, ...rest } = fields
    const row: UserRow = {
      id: newId('user', t.clock.now),
      name,
      display_name: '',
      email: null,
      role,
      status: 'active',
      password_hash: password === null ? null : await hashPassword(password),
      password_changed_at: t.clock.now,
      failed_logins: 0,
      locked_until: null,
      last_login_at: null,
      created_at: t.clock.now,
      updated_at: t.clock.now,
      deleted_at: null,
      ...rest,
    }
    users.insert(row)
    return row
  }
  const login = (name: string, password = PASSWORD, ip = '192.0.2.1') =>
    t.cp.auth.login({ name, password, ip, user_agent: 'vitest' })
  const events = () =>
    t.ctx
      .db()
      .prepare(
        "SELECT actor, outcome, resource_id, data FROM audit_events WHERE action = 'auth.login' ORDER BY seq",
      )
      .all() as { actor: string; outcome: string; resource_id: string | null; data: string }[]
  return { ...t, users, addUser, login, events }
}

describe('passwords', () => {
  it('are scrypt hashes with a salt of their own and the parameters in the stored text', async () => {
    const a = await hashPassword(PASSWORD)
    const b = await hashPassword(PASSWORD)
    const { N, r, p } = SCRYPT_PARAMS
    expect(a).toMatch(new RegExp(`^scrypt\\$${N}\\$${r}\\$${p}\\$[A-Za-z0-9+/=]{24}\\$[A-Za-z0-9+/=]{44}$`))
    expect(N).toBeGreaterThanOrEqual(2 ** 15)
    expect(a).not.toBe(b)
    expect(a).not.toContain(PASSWORD)
    expect(await verifyPassword(PASSWORD, a)).toBe(true)
    expect(await verifyPassword(`${PASSWORD} `, a)).toBe(false)
    expect(await verifyPassword(PASSWORD, 'scrypt$99$8$1$AAAA$AAAA')).toBe(false)
    expect(needsRehash(a)).toBe(false)
  })
})

describe('login', () => {
  it('opens a session shown once, stored as a hash, that authenticates as the user', async () => {
    const { cp, ctx, clock, addUser, login, events } = await setup()
    const alice = await addUser('alice', 'admin')
    const result = await login('alice')
    expect(isWellFormedSecret(result.token, 'st')).toBe(true)
    expect(result.expires_at).toBe(new Date(clock.now + 12 * HOUR).toISOString())
    expect(result.user).toMatchObject({
      name: 'alice',
      role: 'admin',
      has_password: true,
      locked_until: null,
    })
    expect(result.user.last_login_at).toBe(new Date(clock.now).toISOString())
    const principal = cp.auth.authenticate(result.token)
    expect(principal).toMatchObject({
      via: 'session',
      actor: 'user:alice',
      user_id: alice.id,
      user_name: 'alice',
      role: 'admin',
    })
    const session = ctx.db().prepare('SELECT * FROM sessions').get() as Record<string, unknown>
    expect(session.token_hash).toBe(hashSecret(result.token))
    expect(session.prefix).toBe(displayPrefix(result.token))
    expect(session.id).toBe(principal.session_id)
    expect(events()).toEqual([
      expect.objectContaining({ actor: 'user:alice', outcome: 'success', resource_id: alice.id }),
    ])
    expect(cp.auth.hasAdmin()).toBe(true)
  })

  it('refuses a wrong password and an unknown name alike, and audits both without the password', async () => {
    const { cp, ctx, addUser, login, events } = await setup()
    const bob = await addUser('bob')
    await addUser('nopass', 'user', { password: null })
    const wrong = await failure(login('bob', 'not the password at all'), 'INVALID_CREDENTIALS')
    const unknown = await failure(login('nobody', 'not the password at all'), 'INVALID_CREDENTIALS')
    expect(unknown.message).toBe(wrong.message)
    await failure(login('nopass', PASSWORD), 'INVALID_CREDENTIALS')
    const rows = events()
    expect(rows.map((e) => [e.actor, e.outcome, e.resource_id, JSON.parse(e.data).reason])).toEqual([
      ['anonymous', 'failure', bob.id, 'bad_password'],
      ['anonymous', 'failure', null, 'unknown_user'],
      ['anonymous', 'failure', expect.stringMatching(/^user_/), 'no_password'],
    ])
    expect(JSON.parse(rows[0]!.data)).toMatchObject({ name: 'bob', ip: '192.0.2.1', user_agent: 'vitest' })
    await login('bob')
    const text = JSON.stringify(ctx.db().prepare('SELECT * FROM audit_events').all())
    expect(text).not.toContain('not the password at all')
    expect(text).not.toContain(PASSWORD)
    expect(cp.auth.hasAdmin()).toBe(false)
  })

  it('locks an account after 5 failures in a row, unlocks after 15 minutes, then doubles', async () => {
    const { clock, addUser, login, users, events } = await setup()
    const carol = await addUser('carol')
    // 15 s apart: under the per-account limit (5 a minute), so only the lock refuses.
    const attempt = async (password: string) => {
      clock.now += 15_000
      return login('carol', password)
    }
    for (let i = 1; i <= 4; i++) await failure(attempt('wrong password, sorry'), 'INVALID_CREDENTIALS')
    const locked = await failure(attempt('wrong password, sorry'), 'ACCOUNT_LOCKED')
    const until = clock.now + 15 * MINUTE
    expect(locked.details).toEqual({ locked_until: new Date(until).toISOString() })
    expect(users.byId(carol.id)).toMatchObject({ failed_logins: 5, locked_until: until })
    // Even the right password is refused while locked.
    await failure(attempt(PASSWORD), 'ACCOUNT_LOCKED')
    expect(JSON.parse(events().at(-1)!.data).reason).toBe('locked')
    clock.now = until
    expect((await login('carol')).user.name).toBe('carol')
    expect(users.byId(carol.id)).toMatchObject({ failed_logins: 0, locked_until: null })
    // After a success failures count from zero; a lock that follows a lock without one lasts twice as long.
    for (let i = 1; i <= 4; i++) await failure(attempt('wrong again'), 'INVALID_CREDENTIALS')
    await failure(attempt('wrong again'), 'ACCOUNT_LOCKED')
    for (let i = 1; i <= 4; i++) await failure(attempt('wrong again'), 'ACCOUNT_LOCKED')
    clock.now = users.byId(carol.id)!.locked_until!
    for (let i = 1; i <= 5; i++) {
      await failure(attempt('wrong again'), i < 5 ? 'INVALID_CREDENTIALS' : 'ACCOUNT_LOCKED')
    }
    const row = users.byId(carol.id)!
    expect(row.failed_logins).toBe(10)
    expect(row.locked_until).toBe(clock.now + 30 * MINUTE)
  })

  it('limits attempts per address and per account name (GCRA), and says when to come back', async () => {
    const { clock, addUser, login, events } = await setup()
    await addUser('dave')
    // Per address: 10 a minute, whatever the names.
    for (let i = 0; i < 10; i++)
      await failure(login(`someone${i}`, 'guess guess guess', '198.51.100.7'), 'INVALID_CREDENTIALS')
    const perIp = await failure(login('dave', PASSWORD, '198.51.100.7'), 'RATE_LIMITED')
    expect(perIp.details).toEqual({ retry_after_seconds: 6, retry_after_ms: 6_000 })
    // Another address is not affected; the limited one may try again once its time has come.
    expect((await login('dave', PASSWORD, '198.51.100.8')).user.name).toBe('dave')
    clock.now += 6_000
    expect((await login('dave', PASSWORD, '198.51.100.7')).user.name).toBe('dave')

    // Per account name: 5 a minute from any addresses, whether or not the account exists.
    clock.now += 10 * MINUTE
    for (let i = 0; i < 5; i++)
      await failure(login('ghost', 'guess guess guess', `203.0.113.${i}`), 'INVALID_CREDENTIALS')
    const perAccount = await failure(login('ghost', 'guess guess guess', '203.0.113.99'), 'RATE_LIMITED')
    expect(perAccount.details).toEqual({ retry_after_seconds: 12, retry_after_ms: 12_000 })
    // The same name in other letter cases is the same name for the limit.
    await failure(login('GHOST', 'guess guess guess', '203.0.113.98'), 'RATE_LIMITED')
    // Refusals by a limit are audited, at most once a minute per limit (a flood does not flood the trail).
    const limited = events().filter((e) => JSON.parse(e.data).reason === 'rate_limited')
    expect(limited.map((e) => JSON.parse(e.data).limit)).toEqual(['ip', 'account'])
    clock.now += 12_000
    await failure(login('ghost', 'guess guess guess', '203.0.113.99'), 'INVALID_CREDENTIALS')
    expect((await login('dave')).user.name).toBe('dave')
  })
})

describe('sessions', () => {
  it('slide with use up to 7 days, expire when idle, and end at logout', async () => {
    const { cp, clock, addUser, login } = await setup()
    await addUser('erin')
    const start = clock.now
    const { token } = await login('erin')
    clock.now += 11 * HOUR
    expect(cp.auth.authenticate(token).expires_at).toBe(clock.now + 12 * HOUR)
    clock.now += 11 * HOUR
    cp.auth.authenticate(token)
    // Used every 11 hours it lives on, but never past 7 days from sign-in.
    while (clock.now + 11 * HOUR < start + 7 * 24 * HOUR) {
      clock.now += 11 * HOUR
      cp.auth.authenticate(token)
    }
    expect(cp.auth.authenticate(token).expires_at).toBe(start + 7 * 24 * HOUR)
    clock.now = start + 7 * 24 * HOUR
    await failure(() => cp.auth.authenticate(token), 'SESSION_EXPIRED')

    const idle = (await login('erin')).token
    clock.now += 12 * HOUR
    await failure(() => cp.auth.authenticate(idle), 'SESSION_EXPIRED')

    const second = (await login('erin')).token
    const principal = cp.auth.authenticate(second)
    await cp.auth.logout(principal)
    await failure(() => cp.auth.authenticate(second), 'SESSION_REVOKED')
  })

  it('refuse garbage, a typo and an unknown secret as not signed in', async () => {
    const { cp, addUser, login } = await setup()
    await addUser('frank')
    const { token } = await login('frank')
    const typo = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`
    for (const bad of [
      '',
      'Bearer x',
      typo,
      newSecret('st'),
      newSecret('ic'),
      newSecret('at'),
      42 as unknown as string,
    ]) {
      await failure(() => cp.auth.authenticate(bad), 'AUTH_REQUIRED')
    }
  })

  it("of a suspended or deleted user stop at once; a suspended user's login is refused", async () => {
    const { cp, clock, addUser, login, users } = await setup()
    const gina = await addUser('gina')
    const { token } = await login('gina')
    users.update({ ...users.byId(gina.id)!, status: 'suspended', updated_at: clock.now })
    await failure(() => cp.auth.authenticate(token), 'USER_SUSPENDED')
    await failure(login('gina'), 'USER_SUSPENDED')
    users.update({ ...users.byId(gina.id)!, status: 'deleted', deleted_at: clock.now })
    await failure(() => cp.auth.authenticate(token), 'SESSION_REVOKED')
    await failure(login('gina'), 'INVALID_CREDENTIALS')
  })
})

describe('API tokens', () => {
  it('act as their user with the narrower of the two roles, until revoked or expired', async () => {
    const { cp, ctx, clock, addUser, users } = await setup()
    const admin = await addUser('root', 'admin')
    const user = await addUser('hank', 'user')
    const tokens = new ApiTokensRepo(ctx.db())
    const mint = (userId: string, role: UserRole, expiresAt: number | null = null) => {
      const secret = newSecret('at')
      tokens.insert({
        id: newId('at', clock.now),
        user_id: userId,
        name: 'ci',
        role,
        token_hash: hashSecret(secret),
        prefix: displayPrefix(secret),
        created_at: clock.now,
        expires_at: expiresAt,
        last_used_at: null,
        revoked_at: null,
      })
      return secret
    }
    const viewerOfAdmin = mint(admin.id, 'viewer')
    expect(cp.auth.authenticate(viewerOfAdmin)).toMatchObject({
      via: 'api_token',
      actor: 'user:root',
      role: 'viewer',
      user_id: admin.id,
    })
    // A token made when hank was an admin acts only as what hank is now.
    const adminOfUser = mint(user.id, 'admin')
    expect(cp.auth.authenticate(adminOfUser).role).toBe('user')
    const expiring = mint(user.id, 'user', clock.now + HOUR)
    expect(cp.auth.authenticate(expiring).expires_at).toBe(clock.now + HOUR)
    clock.now += HOUR
    await failure(() => cp.auth.authenticate(expiring), 'API_TOKEN_EXPIRED')
    const id = cp.auth.authenticate(adminOfUser).api_token_id!
    tokens.revoke(id, clock.now)
    await failure(() => cp.auth.authenticate(adminOfUser), 'API_TOKEN_REVOKED')
    users.update({ ...users.byId(admin.id)!, status: 'suspended' })
    await failure(() => cp.auth.authenticate(viewerOfAdmin), 'USER_SUSPENDED')
    // A token is no session: logging out with it ends nothing.
    await cp.auth.logout({ ...cp.auth.authenticate(mint(user.id, 'user')) })
  })
})

describe('audit actor', () => {
  it('is the principal a server request runs as, else the local OS user', async () => {
    const { cp, ctx, addUser, login } = await setup()
    await addUser('ivy', 'admin')
    const principal = cp.auth.authenticate((await login('ivy')).token)
    await runAs(principal, () => cp.agents.create({ name: 'bot-of-ivy' }))
    await cp.agents.create({ name: 'bot-local' })
    const actors = ctx
      .db()
      .prepare("SELECT actor FROM audit_events WHERE action = 'agent.create' ORDER BY seq")
      .pluck()
      .all()
    expect(actors).toEqual(['user:ivy', ctx.actor])
    expect(ctx.actor).toMatch(/^local:/)
  })

  it('never sees a password or a session secret in the store file', async () => {
    const { ctx, addUser, login } = await setup()
    await addUser('jo')
    const { token } = await login('jo')
    await failure(login('jo', 'an attempted password'), 'INVALID_CREDENTIALS')
    ctx.db().pragma('wal_checkpoint(TRUNCATE)')
    const file = readFileSync(ctx.dbPath)
    for (const secret of [PASSWORD, token, 'an attempted password']) {
      expect(file.includes(Buffer.from(secret))).toBe(false)
    }
  })
})

describe('rehash', () => {
  it('a password hashed with older parameters is rehashed at the next login', async () => {
    const { addUser, login, users } = await setup()
    const { scryptSync, randomBytes } = await import('node:crypto')
    const salt = randomBytes(16)
    const old = `scrypt$16384$8$1$${salt.toString('base64')}$${scryptSync(PASSWORD, salt, 32, { N: 16384, r: 8, p: 1 }).toString('base64')}`
    const kim = await addUser('kim', 'user', { password: null, password_hash: old })
    expect(needsRehash(old)).toBe(true)
    await login('kim')
    const now = users.byId(kim.id)!.password_hash!
    expect(now).not.toBe(old)
    expect(needsRehash(now)).toBe(false)
    expect(await verifyPassword(PASSWORD, now)).toBe(true)
  })
})
