import { describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { isWellFormedSecret } from '../../src/core/secrets.js'
import { runAs } from '../../src/services/principal.js'
import { tempControlPlane } from '../helpers/control-plane.js'

const PASSWORD = 'correct horse battery staple'

async function refused(promise: Promise<unknown> | (() => unknown), code: string, exitCode: number) {
  let error: unknown
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (e) {
    error = e
  }
  expect(error, `expected ${code}`).toBeInstanceOf(IronError)
  expect((error as IronError).code).toBe(code)
  expect((error as IronError).exitCode).toBe(exitCode)
  return error as IronError
}

describe('users', () => {
  it('are created with checked names, roles, emails and passwords, stored hashed and audited without them', async () => {
    const { cp, ctx } = await tempControlPlane()
    const short = await refused(
      cp.users.create({ name: 'ada', password: 'eleven char' }),
      'PASSWORD_TOO_SHORT',
      2,
    )
    expect(short.message).toBe('The password is 11 characters long; it needs at least 12')
    await refused(
      cp.users.create({ name: 'administrator', password: 'Administrator' }),
      'PASSWORD_IS_NAME',
      2,
    )
    await refused(cp.users.create({ name: 'has space' }), 'INVALID_NAME', 2)
    await refused(cp.users.create({ name: 'user_x' }), 'INVALID_NAME', 2)
    await refused(cp.users.create({ name: 'ada', role: 'owner' as 'admin' }), 'INVALID_ROLE', 2)
    await refused(cp.users.create({ name: 'ada', email: 'not-an-email' }), 'INVALID_EMAIL', 2)
    const ada = await cp.users.create({
      name: 'ada',
      role: 'admin',
      display_name: 'Ada Lovelace',
      email: 'ada@example.com',
      password: PASSWORD,
    })
    expect(ada).toMatchObject({
      name: 'ada',
      role: 'admin',
      status: 'active',
      display_name: 'Ada Lovelace',
      email: 'ada@example.com',
      has_password: true,
      locked_until: null,
      last_login_at: null,
      deleted_at: null,
    })
    expect(ada.id).toMatch(/^user_[0-9a-z]{26}$/)
    const bot = await cp.users.create({ name: 'ci-bot' })
    expect(bot).toMatchObject({ role: 'user', has_password: false, email: null, display_name: '' })
    await refused(cp.users.create({ name: 'ada' }), 'USER_NAME_TAKEN', 1)
    expect((await cp.users.list()).map((u) => u.name)).toEqual(['ada', 'ci-bot'])
    expect((await cp.users.get(ada.id)).name).toBe('ada')
    await refused(cp.users.get('nobody'), 'USER_NOT_FOUND', 3)
    const stored = ctx
      .db()
      .prepare('SELECT password_hash FROM users WHERE name = ?')
      .pluck()
      .get('ada') as string
    expect(stored).toMatch(/^scrypt\$/)
    const trail = JSON.stringify(ctx.db().prepare('SELECT * FROM audit_events').all())
    expect(trail).toContain('user.create')
    expect(trail).not.toContain(PASSWORD)
    expect(trail).not.toContain(stored)
    expect((await cp.auth.login({ name: 'ada', password: PASSWORD, ip: '127.0.0.1' })).user.name).toBe('ada')
  })

  it('keep at least one active admin: the last cannot be demoted, suspended or deleted', async () => {
    const { cp } = await tempControlPlane()
    await cp.users.create({ name: 'root', role: 'admin' })
    for (const attempt of [
      cp.users.delete('root'),
      cp.users.suspend('root'),
      cp.users.update('root', { role: 'user' }),
    ]) {
      const error = await refused(attempt, 'LAST_ADMIN', 5)
      expect(error.hint).toContain('--admin')
    }
    await cp.users.create({ name: 'second', role: 'admin' })
    expect((await cp.users.update('root', { role: 'viewer' })).role).toBe('viewer')
    await refused(cp.users.delete('second'), 'LAST_ADMIN', 5)
    expect(cp.auth.hasAdmin()).toBe(true)
  })

  it('suspend signs out and stops API tokens until activated; delete revokes both and frees the name', async () => {
    const { cp } = await tempControlPlane()
    await cp.users.create({ name: 'root', role: 'admin' })
    const bea = await cp.users.create({ name: 'bea', password: PASSWORD })
    const session = (await cp.auth.login({ name: 'bea', password: PASSWORD, ip: '127.0.0.1' })).token
    const api = await cp.apiTokens.create({ name: 'ci', user: 'bea' })
    expect((await cp.users.suspend('bea')).status).toBe('suspended')
    // Signed out everywhere: the session is over; the API token is refused while the user is suspended.
    await refused(() => cp.auth.authenticate(session), 'SESSION_REVOKED', 4)
    await refused(() => cp.auth.authenticate(api.token), 'USER_SUSPENDED', 4)
    await refused(cp.auth.login({ name: 'bea', password: PASSWORD, ip: '127.0.0.1' }), 'USER_SUSPENDED', 4)
    await refused(cp.apiTokens.create({ name: 'more', user: 'bea' }), 'USER_NOT_ACTIVE', 1)
    expect((await cp.users.activate('bea')).status).toBe('active')
    // The session stays ended; the API token works again.
    await refused(() => cp.auth.authenticate(session), 'SESSION_REVOKED', 4)
    expect(cp.auth.authenticate(api.token).actor).toBe('user:bea')

    const deleted = await cp.users.delete('bea')
    expect(deleted).toMatchObject({ status: 'deleted', deleted_at: expect.any(String) })
    await refused(() => cp.auth.authenticate(api.token), 'API_TOKEN_REVOKED', 4)
    expect((await cp.apiTokens.get(api.id)).status).toBe('revoked')
    await refused(cp.users.get('bea'), 'USER_NOT_FOUND', 3)
    expect((await cp.users.get(bea.id)).status).toBe('deleted')
    expect((await cp.users.list()).map((u) => u.name)).toEqual(['root'])
    expect((await cp.users.list({ include_deleted: true })).map((u) => u.name)).toEqual(['bea', 'root'])
    expect((await cp.users.create({ name: 'bea' })).id).not.toBe(bea.id)
  })

  it('reset-password sets a new password, ends sessions and lifts a lock; activate lifts a lock too', async () => {
    const { cp, clock } = await tempControlPlane()
    await cp.users.create({ name: 'cy', password: PASSWORD })
    const login = (password: string) => cp.auth.login({ name: 'cy', password, ip: '127.0.0.1' })
    const { token } = await login(PASSWORD)
    for (let i = 0; i < 5; i++) {
      clock.now += 15_000
      await refused(login('not it, not it'), i < 4 ? 'INVALID_CREDENTIALS' : 'ACCOUNT_LOCKED', 4)
    }
    expect((await cp.users.get('cy')).locked_until).not.toBeNull()
    await refused(cp.users.resetPassword('cy', 'cy'), 'PASSWORD_TOO_SHORT', 2)
    const reset = await cp.users.resetPassword('cy', 'a brand new passphrase')
    expect(reset.locked_until).toBeNull()
    await refused(() => cp.auth.authenticate(token), 'SESSION_REVOKED', 4)
    clock.now += 15_000
    await refused(login(PASSWORD), 'INVALID_CREDENTIALS', 4)
    clock.now += 15_000
    expect((await login('a brand new passphrase')).user.name).toBe('cy')

    for (let i = 0; i < 5; i++) {
      clock.now += 15_000
      await refused(login('not it, not it'), i < 4 ? 'INVALID_CREDENTIALS' : 'ACCOUNT_LOCKED', 4)
    }
    expect((await cp.users.activate('cy')).locked_until).toBeNull()
    clock.now += 15_000
    expect((await login('a brand new passphrase')).user.name).toBe('cy')
  })

  it('as a server request: admins manage users; others read only themselves', async () => {
    const { cp } = await tempControlPlane()
    await cp.users.create({ name: 'root', role: 'admin', password: PASSWORD })
    await cp.users.create({ name: 'dan', role: 'user', password: PASSWORD })
    const as = async (name: string) =>
      cp.auth.authenticate((await cp.auth.login({ name, password: PASSWORD, ip: '127.0.0.1' })).token)
    const dan = await as('dan')
    const root = await as('root')
    expect((await runAs(dan, () => cp.users.get('dan'))).name).toBe('dan')
    const other = await refused(
      runAs(dan, () => cp.users.get('root')),
      'USER_NOT_FOUND',
      3,
    )
    expect(other.message).toBe("No user 'root'")
    await refused(
      runAs(dan, () => cp.users.list()),
      'FORBIDDEN',
      4,
    )
    await refused(
      runAs(dan, () => cp.users.create({ name: 'eve' })),
      'FORBIDDEN',
      4,
    )
    await refused(
      runAs(dan, () => cp.users.update('dan', { role: 'admin' })),
      'FORBIDDEN',
      4,
    )
    await refused(
      runAs(dan, () => cp.users.resetPassword('dan', 'another long passphrase')),
      'FORBIDDEN',
      4,
    )
    const created = await runAs(root, () => cp.users.create({ name: 'eve', role: 'viewer' }))
    expect(created.role).toBe('viewer')
    const actors = await cp.audit.list({ action: 'user.create' })
    expect(actors.events.map((e) => e.actor)[0]).toBe('user:root')

    expect(await runAs(dan, () => cp.whoami())).toMatchObject({
      mode: 'server',
      actor: 'user:dan',
      role: 'user',
      via: 'session',
      user: { name: 'dan', role: 'user' },
    })
    expect(await cp.whoami()).toEqual({
      mode: 'local',
      server: null,
      actor: expect.stringMatching(/^local:/),
      role: 'admin',
      user: null,
      via: 'local',
      expires_at: null,
    })
  })
})

describe('API tokens', () => {
  it('are shown once, stored hashed, act as their user, and list, show and revoke', async () => {
    const { cp, ctx, clock } = await tempControlPlane()
    await cp.users.create({ name: 'root', role: 'admin' })
    await cp.users.create({ name: 'fay', role: 'user' })
    await refused(cp.apiTokens.create({ name: 'ci' }), 'USER_REQUIRED', 2)
    await refused(cp.apiTokens.create({ name: '', user: 'fay' }), 'INVALID_TOKEN_NAME', 2)
    await refused(cp.apiTokens.create({ name: 'ci', user: 'fay', role: 'admin' }), 'ROLE_TOO_HIGH', 2)
    await refused(cp.apiTokens.create({ name: 'ci', user: 'fay', expires_in_ms: 0 }), 'INVALID_EXPIRY', 2)
    const issued = await cp.apiTokens.create({ name: 'ci', user: 'fay', expires_in_ms: 3_600_000 })
    expect(isWellFormedSecret(issued.token, 'at')).toBe(true)
    expect(issued).toMatchObject({
      name: 'ci',
      user_name: 'fay',
      role: 'user',
      status: 'live',
      prefix: issued.token.slice(0, 12),
      expires_at: new Date(clock.now + 3_600_000).toISOString(),
    })
    expect(issued.id).toMatch(/^at_[0-9a-z]{26}$/)
    const viewer = await cp.apiTokens.create({ name: 'dashboards', user: 'fay', role: 'viewer' })
    expect(cp.auth.authenticate(viewer.token).role).toBe('viewer')
    const stored = JSON.stringify(ctx.db().prepare('SELECT * FROM api_tokens').all())
    const trail = JSON.stringify(ctx.db().prepare('SELECT * FROM audit_events').all())
    for (const text of [stored, trail, JSON.stringify(await cp.apiTokens.list())]) {
      expect(text).not.toContain(issued.token)
      expect(text).not.toContain(viewer.token)
    }
    expect(Object.keys(await cp.apiTokens.get(issued.id))).not.toContain('token')
    await refused(cp.apiTokens.get(issued.token), 'SECRET_AS_REFERENCE', 2)
    await refused(cp.apiTokens.get('ci'), 'INVALID_ID', 2)
    expect((await cp.apiTokens.list({ user: 'fay' })).map((t) => t.name)).toEqual(['ci', 'dashboards'])
    expect((await cp.apiTokens.revoke(viewer.id)).status).toBe('revoked')
    await refused(cp.apiTokens.revoke(viewer.id), 'API_TOKEN_ALREADY_REVOKED', 1)
    expect((await cp.apiTokens.list()).map((t) => t.name)).toEqual(['ci'])
    expect((await cp.apiTokens.list({ include_revoked: true })).map((t) => t.status)).toEqual([
      'live',
      'revoked',
    ])
    clock.now += 3_600_000
    expect((await cp.apiTokens.get(issued.id)).status).toBe('expired')
  })

  it('a user makes and sees their own, never more than their role or the role of the token they use', async () => {
    const { cp } = await tempControlPlane()
    await cp.users.create({ name: 'root', role: 'admin' })
    await cp.users.create({ name: 'gus', role: 'user' })
    await cp.users.create({ name: 'hal', role: 'user' })
    const gus = cp.auth.authenticate((await cp.apiTokens.create({ name: 'laptop', user: 'gus' })).token)
    const own = await runAs(gus, () => cp.apiTokens.create({ name: 'ci' }))
    expect(own).toMatchObject({ user_name: 'gus', role: 'user' })
    await refused(
      runAs(gus, () => cp.apiTokens.create({ name: 'x', user: 'hal' })),
      'FORBIDDEN',
      4,
    )
    await refused(
      runAs(gus, () => cp.apiTokens.create({ name: 'x', role: 'admin' })),
      'ROLE_TOO_HIGH',
      2,
    )
    // A viewer token of gus cannot mint a user token.
    const narrow = cp.auth.authenticate(
      (await runAs(gus, () => cp.apiTokens.create({ name: 'ro', role: 'viewer' }))).token,
    )
    expect(narrow.role).toBe('viewer')
    await refused(
      runAs(narrow, () => cp.apiTokens.create({ name: 'wider', role: 'user' })),
      'ROLE_TOO_HIGH',
      2,
    )
    expect((await runAs(narrow, () => cp.apiTokens.create({ name: 'same' }))).role).toBe('viewer')

    const hals = await cp.apiTokens.create({ name: 'hal-ci', user: 'hal' })
    await refused(
      runAs(gus, () => cp.apiTokens.get(hals.id)),
      'API_TOKEN_NOT_FOUND',
      3,
    )
    await refused(
      runAs(gus, () => cp.apiTokens.revoke(hals.id)),
      'API_TOKEN_NOT_FOUND',
      3,
    )
    await refused(
      runAs(gus, () => cp.apiTokens.list({ user: 'hal' })),
      'USER_NOT_FOUND',
      3,
    )
    const mine = await runAs(gus, () => cp.apiTokens.list())
    expect(mine.every((t) => t.user_name === 'gus')).toBe(true)
    expect(mine).toHaveLength(4)
    expect((await runAs(gus, () => cp.apiTokens.revoke(own.id))).status).toBe('revoked')
    expect(await cp.apiTokens.list()).toHaveLength(4)
  })
})
