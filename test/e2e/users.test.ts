import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IronConfig } from '../../src/config/config.js'
import { resolveDirs } from '../../src/config/paths.js'
import { LocalContext } from '../../src/services/context.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { BIN, type CliResult, homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'
import { ensureTmux, tmuxSession } from '../helpers/tmux.js'

const home = tempDir('iron-e2e-users')
const env = homeEnv(home)
const iron = (args: string[], input?: string) => runIron(args, { env, input })
const json = <T = Record<string, unknown>>(r: CliResult) => JSON.parse(r.stdout) as T
const STORE = join(home, 'data', 'iron', 'iron.db')
const ADA = 'ada has a long passphrase'
const BOB = 'bob types another one'

/** Sign in on the store the binary wrote, as iron serve would. */
async function canLogin(name: string, password: string): Promise<boolean> {
  const ctx = new LocalContext({
    config: await IronConfig.load(resolveDirs(env), env),
    db: STORE,
  })
  try {
    await createLocalControlPlane(ctx).auth.login({
      name,
      password,
      ip: `198.51.100.${Math.floor(Math.random() * 200)}`,
    })
    return true
  } catch {
    return false
  } finally {
    ctx.close()
  }
}

/** Each test spawns iron a dozen times or more; a busy machine needs room for that. */
const SLOW = 240_000

const sessions: ReturnType<typeof tmuxSession>[] = []
afterAll(() => {
  for (const s of sessions) s.kill()
})

describe('iron users and iron api-tokens (spawned binary)', () => {
  beforeAll(async () => {
    expect((await iron(['init'])).code).toBe(0)
  }, SLOW)

  it(
    'create needs a password from stdin or a terminal, checks it, and never prints it',
    async () => {
      const blocked = await iron(['users', 'create', 'ada', '--admin'])
      expect(blocked.code).toBe(2)
      expect(blocked.stderr).toContain('PASSWORD_REQUIRED')
      expect(blocked.stderr).toContain('--password-stdin')
      expect(json(await iron(['users', 'list', '--json']))).toEqual([])

      const short = await iron(['users', 'create', 'ada', '--admin', '--password-stdin'], 'too short\n')
      expect(short.code).toBe(2)
      expect(short.stderr).toContain('PASSWORD_TOO_SHORT')
      const both = await iron(
        ['users', 'create', 'ada', '--admin', '--role', 'viewer', '--password-stdin'],
        `${ADA}\n`,
      )
      expect(both.code).toBe(2)

      const created = await iron(
        ['users', 'create', 'ada', '--admin', '--display-name', 'Ada L.', '--password-stdin', '--json'],
        `${ADA}\n`,
      )
      expect(created.code).toBe(0)
      expect(json(created)).toMatchObject({
        name: 'ada',
        role: 'admin',
        display_name: 'Ada L.',
        has_password: true,
      })
      expect(created.stdout + created.stderr).not.toContain(ADA)
      expect(await canLogin('ada', ADA)).toBe(true)

      const taken = await iron(['users', 'create', 'ada', '--no-password'])
      expect(taken.code).toBe(1)
      expect(taken.stderr).toContain('USER_NAME_TAKEN')
      const bob = await iron(
        ['users', 'create', 'bob', '--role', 'user', '--email', 'bob@example.com', '--password-stdin'],
        BOB,
      )
      expect(bob.code).toBe(0)
      expect(bob.stderr).toContain('✓ Created user bob')
      const ci = await iron(['users', 'create', 'ci', '--no-password', '--json'])
      expect(json(ci)).toMatchObject({ has_password: false, role: 'user' })
      expect(readFileSync(STORE).includes(Buffer.from(ADA))).toBe(false)
    },
    SLOW,
  )

  it(
    'list, show, update, suspend, activate, reset-password and delete, with their exit codes',
    async () => {
      const list = await iron(['users', 'list'])
      expect(list.code).toBe(0)
      expect(
        list.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split('\t').slice(0, 3)),
      ).toEqual([
        ['ada', 'admin', 'active'],
        ['bob', 'user', 'active'],
        ['ci', 'user', 'active'],
      ])
      const shown = await iron(['users', 'show', 'bob', '--json'])
      expect(json(shown)).toMatchObject({ name: 'bob', email: 'bob@example.com' })
      expect((await iron(['users', 'show', 'nobody'])).code).toBe(3)
      const updated = await iron(['users', 'update', 'bob', '--role', 'viewer', '--no-email', '--json'])
      expect(json(updated)).toMatchObject({ role: 'viewer', email: null })
      expect((await iron(['users', 'update', 'bob', '--role', 'owner'])).code).toBe(2)

      const suspended = await iron(['users', 'suspend', 'bob', '--json'])
      expect(json(suspended)).toMatchObject({ status: 'suspended' })
      expect(await canLogin('bob', BOB)).toBe(false)
      expect(json(await iron(['users', 'activate', 'bob', '--json']))).toMatchObject({ status: 'active' })
      expect(await canLogin('bob', BOB)).toBe(true)

      const reset = await iron(
        ['users', 'reset-password', 'bob', '--password-stdin'],
        'a fresh passphrase for bob\n',
      )
      expect(reset.code).toBe(0)
      expect(reset.stderr).toContain('New password set for bob')
      expect(await canLogin('bob', BOB)).toBe(false)
      expect(await canLogin('bob', 'a fresh passphrase for bob')).toBe(true)
      const noInput = await iron(['users', 'reset-password', 'bob'])
      expect(noInput.code).toBe(2)
      expect(noInput.stderr).toContain('PASSWORD_REQUIRED')

      const unconfirmed = await iron(['users', 'delete', 'bob'])
      expect(unconfirmed.code).toBe(2)
      expect(unconfirmed.stderr).toContain('--yes')
      expect((await iron(['users', 'delete', 'bob', '--yes'])).code).toBe(0)
      expect((await iron(['users', 'show', 'bob'])).code).toBe(3)
      const last = await iron(['users', 'delete', 'ada', '--yes'])
      expect(last.code).toBe(5)
      expect(last.stderr).toContain('LAST_ADMIN')
      expect((await iron(['users', 'suspend', 'ada'])).code).toBe(5)
      expect(
        json<{ name: string }[]>(await iron(['users', 'list', '--all', '--json'])).map((u) => u.name),
      ).toEqual(['ada', 'bob', 'ci'])
    },
    SLOW,
  )

  it(
    'api-tokens: the secret once on stdout, prefixes afterwards, revoke',
    async () => {
      const missing = await iron(['api-tokens', 'create', 'deploy'])
      expect(missing.code).toBe(2)
      expect(missing.stderr).toContain('USER_REQUIRED')
      const created = await iron([
        'api-tokens',
        'create',
        'deploy',
        '--user',
        'ci',
        '--role',
        'viewer',
        '--expires-in',
        '30d',
      ])
      expect(created.code).toBe(0)
      const secret = created.stdout.trim()
      expect(secret).toMatch(/^iron_at_[0-9A-Za-z]{38}$/)
      expect(created.stderr).toContain('only time the token is shown')
      const asJson = await iron(['api-tokens', 'create', 'other', '--user', 'ada', '--json'])
      expect(json(asJson)).toMatchObject({
        name: 'other',
        user_name: 'ada',
        role: 'admin',
        token: expect.stringMatching(/^iron_at_/),
      })

      const list = await iron(['api-tokens', 'list', '--json'])
      const tokens = json<{ id: string; name: string; prefix: string }[]>(list)
      expect(tokens.map((t) => t.name)).toEqual(['other', 'deploy'])
      expect(list.stdout).not.toContain(secret)
      const id = tokens.find((t) => t.name === 'deploy')!.id
      expect(secret.startsWith(tokens.find((t) => t.name === 'deploy')!.prefix)).toBe(true)
      const shown = await iron(['api-tokens', 'show', id])
      expect(shown.stdout).toContain('viewer')
      expect(shown.stdout).not.toContain(secret)
      const pasted = await iron(['api-tokens', 'show', secret])
      expect(pasted.code).toBe(2)
      expect(pasted.stderr).toContain('SECRET_AS_REFERENCE')
      expect(pasted.stderr).not.toContain(secret.slice(12))
      expect((await iron(['api-tokens', 'revoke', id])).code).toBe(2)
      const revoked = await iron(['api-tokens', 'revoke', id, '--yes', '--json'])
      expect(json(revoked)).toMatchObject({ status: 'revoked' })
      expect((await iron(['api-tokens', 'revoke', id, '--yes'])).code).toBe(1)
      expect(json<unknown[]>(await iron(['api-tokens', 'list', '--user', 'ci', '--json']))).toEqual([])
      expect(
        json<unknown[]>(await iron(['api-tokens', 'list', '--user', 'ci', '--all', '--json'])),
      ).toHaveLength(1)
      expect(readFileSync(STORE).includes(Buffer.from(secret))).toBe(false)
    },
    SLOW,
  )

  it(
    'in a terminal, asks for the password twice without echoing it',
    async () => {
      ensureTmux()
      const run = (name: string) => {
        const session = tmuxSession(
          `iron-users-${process.pid}-${name}`,
          { columns: 100, rows: 20 },
          [process.execPath, BIN, 'users', 'create', name],
          { ...env, TERM: 'xterm-256color', PATH: process.env.PATH ?? '' },
        )
        sessions.push(session)
        return session
      }
      const typed = 'typed at the prompt, twice'
      const cy = run('cy')
      await cy.waitFor((s) => s.includes('Password for cy (input hidden'), 'the first prompt')
      cy.keys('-l', typed)
      cy.keys('Enter')
      await cy.waitFor((s) => s.includes('Type it again'), 'the second prompt')
      cy.keys('-l', typed)
      cy.keys('Enter')
      const done = await cy.waitFor((s) => s.includes('Created user cy'), 'the user')
      expect(done).not.toContain(typed)
      expect(await canLogin('cy', typed)).toBe(true)

      const dee = run('dee')
      await dee.waitFor((s) => s.includes('Password for dee'), 'the first prompt')
      dee.keys('-l', 'one long passphrase here')
      dee.keys('Enter')
      await dee.waitFor((s) => s.includes('Type it again'), 'the second prompt')
      dee.keys('-l', 'another long passphrase')
      dee.keys('Enter')
      const differ = await dee.waitFor((s) => s.includes('PASSWORDS_DIFFER'), 'the refusal')
      expect(differ).not.toContain('one long passphrase here')
      expect(
        json<{ name: string }[]>(await iron(['users', 'list', '--json'])).map((u) => u.name),
      ).not.toContain('dee')
    },
    SLOW,
  )
})
