import { describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { newId } from '../../src/core/ids.js'
import type { UserRole } from '../../src/services/api.js'
import { allowed, RULES } from '../../src/services/authz.js'
import { type Principal, runAs } from '../../src/services/principal.js'
import { UsersRepo } from '../../src/store/users.js'
import { tempControlPlane } from '../helpers/control-plane.js'
import { gatewayLedger } from '../helpers/ledger.js'

async function refused(promise: Promise<unknown>, code: string, exitCode: number): Promise<IronError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, `expected ${code}`).toBeInstanceOf(IronError)
  expect((error as IronError).code).toBe(code)
  expect((error as IronError).exitCode).toBe(exitCode)
  return error as IronError
}
const forbidden = (promise: Promise<unknown>) => refused(promise, 'FORBIDDEN', 4)
const hidden = (promise: Promise<unknown>, code = 'AGENT_NOT_FOUND') => refused(promise, code, 3)

/**
 * A store with an admin (root), two users (alice, bob) and a viewer (vera), each as the principal a server
 * request would run as; `as(who, fn)` runs the services as them.
 */
async function team() {
  const t = await tempControlPlane()
  const users = new UsersRepo(t.ctx.db())
  const person = (name: string, role: UserRole): Principal => {
    const id = newId('user', t.clock.now)
    users.insert({
      id,
      name,
      display_name: '',
      email: null,
      role,
      status: 'active',
      password_hash: null,
      password_changed_at: null,
      failed_logins: 0,
      locked_until: null,
      last_login_at: null,
      created_at: t.clock.now,
      updated_at: t.clock.now,
      deleted_at: null,
    })
    return { via: 'session', actor: `user:${name}`, user_id: id, user_name: name, role }
  }
  const root = person('root', 'admin')
  const alice = person('alice', 'user')
  const bob = person('bob', 'user')
  const vera = person('vera', 'viewer')
  const as = <T>(who: Principal, fn: () => Promise<T>): Promise<T> => runAs(who, fn)
  return { ...t, root, alice, bob, vera, as }
}

describe('authorization: agents', () => {
  it("a user's agent is their own and starts at $0 that only an admin can raise", async () => {
    const { cp, as, alice, root } = await team()
    const agent = await as(alice, () => cp.agents.create({ name: 'alice-bot' }))
    expect(agent.owner).toBe('alice')
    const budget = await as(alice, () => cp.budgets.get('alice-bot'))
    expect(budget.limit_micros).toBe(0)
    expect(budget.remaining_micros).toBe(0)
    await forbidden(as(alice, () => cp.budgets.set('alice-bot', { limit_micros: 1_000_000 })))
    // Nothing can spend: a gateway is refused a lease.
    expect(gatewayLedger(cp, agent.id).ask(10).ok).toBe(false)
    await as(root, () => cp.budgets.set('alice-bot', { limit_micros: 5_000_000 }))
    await as(alice, () => cp.budgets.set('alice-bot', { limit_micros: 2_000_000 }))
    await forbidden(as(alice, () => cp.budgets.set('alice-bot', { limit_micros: 6_000_000 })))
    expect((await as(alice, () => cp.budgets.get('alice-bot'))).limit_micros).toBe(2_000_000)
    // An admin's agent is the team's, and starts without a limit as on the local store.
    const teams = await as(root, () => cp.agents.create({ name: 'team-bot' }))
    expect(teams.owner).toBeNull()
    expect((await cp.budgets.get('team-bot')).limit_micros).toBeNull()
    // The local store (no principal) works as before: no owner.
    expect((await cp.agents.create({ name: 'local-bot' })).owner).toBeNull()
  })

  it("another user's agent does not exist for a user, by name or by ID; an admin sees every agent", async () => {
    const { cp, as, alice, bob, root } = await team()
    const mine = await as(alice, () => cp.agents.create({ name: 'alice-bot' }))
    await as(bob, () => cp.agents.create({ name: 'bob-bot' }))
    await as(root, () => cp.agents.create({ name: 'team-bot' }))
    const missing = await hidden(as(bob, () => cp.agents.get('no-such-bot')))
    for (const ref of ['alice-bot', mine.id, ` ${mine.id.toUpperCase()} `.replace('AGENT_', 'agent_')]) {
      const error = await hidden(as(bob, () => cp.agents.get(ref)))
      expect(error.message).toBe(`No agent '${ref.trim()}'`)
      expect(error.hint).toBe(missing.hint)
      await hidden(as(bob, () => cp.agents.update(ref, { description: 'mine now' })))
      await hidden(as(bob, () => cp.agents.delete(ref, { force: true })))
    }
    expect((await as(bob, () => cp.agents.list())).map((a) => a.name)).toEqual(['bob-bot'])
    expect((await as(alice, () => cp.agents.list())).map((a) => a.name)).toEqual(['alice-bot'])
    expect((await as(root, () => cp.agents.list())).map((a) => a.name)).toEqual([
      'alice-bot',
      'bob-bot',
      'team-bot',
    ])
    expect((await cp.agents.list()).map((a) => a.name)).toEqual(['alice-bot', 'bob-bot', 'team-bot'])
    // The team's agents are an admin's to manage.
    await hidden(as(alice, () => cp.agents.get('team-bot')))
    // Their own: read, change, delete.
    const updated = await as(alice, () =>
      cp.agents.update('alice-bot', { description: 'answers', status: 'suspended' }),
    )
    expect(updated).toMatchObject({ description: 'answers', status: 'suspended', owner: 'alice' })
    await as(alice, () => cp.agents.delete('alice-bot', { force: true }))
    expect((await as(alice, () => cp.agents.get(mine.id))).status).toBe('deleted')
    expect((await as(alice, () => cp.agents.list({ include_deleted: true }))).map((a) => a.name)).toEqual([
      'alice-bot',
    ])
  })

  it('only an admin chooses an owner or an agent safety policy; a viewer reads what an admin gave them', async () => {
    const { cp, as, alice, vera, root } = await team()
    await forbidden(as(alice, () => cp.agents.create({ name: 'x', owner: 'bob' })))
    const policy = await forbidden(
      as(alice, () => cp.agents.create({ name: 'x', safety_policy: { input: { prompt_injection: 'off' } } })),
    )
    expect(policy.message).toMatch(/admin role/)
    expect((await as(alice, () => cp.agents.create({ name: 'x', owner: 'alice' }))).owner).toBe('alice')
    await forbidden(as(alice, () => cp.agents.update('x', { owner: null })))
    await forbidden(as(alice, () => cp.agents.update('x', { safety_policy: { input: { pii: 'off' } } })))

    const given = await as(root, () => cp.agents.create({ name: 'vera-bot', owner: 'vera' }))
    expect(given.owner).toBe('vera')
    await refused(
      as(root, () => cp.agents.create({ name: 'y', owner: 'nobody' })),
      'USER_NOT_FOUND',
      3,
    )
    const created = await forbidden(as(vera, () => cp.agents.create({ name: 'vera-own' })))
    expect(created.message).toBe(
      'Creating an agent needs the user role (on your own resources); you have the viewer role',
    )
    expect(created.details).toEqual({ required_role: 'user', role: 'viewer' })
    expect((await as(vera, () => cp.agents.get('vera-bot'))).name).toBe('vera-bot')
    expect((await as(vera, () => cp.agents.list())).map((a) => a.name)).toEqual(['vera-bot'])
    await forbidden(as(vera, () => cp.agents.update('vera-bot', { description: 'mine' })))
    await forbidden(as(vera, () => cp.agents.delete('vera-bot', { force: true })))
    // An admin hands an agent back to the team: its old owner no longer finds it.
    await as(root, () => cp.agents.update('x', { owner: null }))
    await hidden(as(alice, () => cp.agents.get('x')))
    expect((await cp.agents.get('x')).owner).toBeNull()
  })
})

describe('authorization: IC tokens, budgets, usage', () => {
  it("tokens of a user's own agents only; a viewer reads them but cannot issue", async () => {
    const { cp, as, alice, bob, vera, root } = await team()
    await as(alice, () => cp.agents.create({ name: 'alice-bot' }))
    await as(root, () => cp.agents.create({ name: 'vera-bot', owner: 'vera' }))
    const token = await as(alice, () => cp.tokens.issue('alice-bot'))
    const rotated = await as(alice, () => cp.tokens.rotate('alice-bot'))
    await as(root, () => cp.tokens.issue('vera-bot'))
    expect((await as(alice, () => cp.tokens.list({ include_revoked: true }))).map((t) => t.id)).toEqual([
      token.id,
      rotated.id,
    ])
    expect(await as(bob, () => cp.tokens.list({ include_revoked: true }))).toEqual([])
    for (const ref of [rotated.id, 'alice-bot']) {
      await hidden(
        as(bob, () => cp.tokens.get(ref)),
        'TOKEN_NOT_FOUND',
      )
      await hidden(
        as(bob, () => cp.tokens.revoke(ref)),
        'TOKEN_NOT_FOUND',
      )
      await hidden(
        as(bob, () => cp.tokens.rotate(ref)),
        'TOKEN_NOT_FOUND',
      )
    }
    await hidden(as(bob, () => cp.tokens.issue('alice-bot')))
    await hidden(as(bob, () => cp.tokens.list({ agent: 'alice-bot' })))
    expect((await as(vera, () => cp.tokens.list())).map((t) => t.agent_name)).toEqual(['vera-bot'])
    expect((await as(vera, () => cp.tokens.get('vera-bot'))).status).toBe('live')
    await forbidden(as(vera, () => cp.tokens.rotate('vera-bot')))
    await forbidden(as(vera, () => cp.tokens.revoke('vera-bot')))
    await forbidden(as(vera, () => cp.tokens.issue('vera-bot')))
    expect((await as(alice, () => cp.tokens.revoke(rotated.id))).status).toBe('revoked')
    expect((await as(root, () => cp.tokens.list())).map((t) => t.agent_name)).toEqual(['vera-bot'])
  })

  it('budgets and usage: own agents only; adjust is an admin’s', async () => {
    const { cp, as, alice, bob, root } = await team()
    const a = await as(alice, () => cp.agents.create({ name: 'alice-bot' }))
    const b = await as(bob, () => cp.agents.create({ name: 'bob-bot' }))
    await as(root, () => cp.budgets.set('alice-bot', { limit_micros: 1_000_000 }))
    await as(root, () => cp.budgets.set('bob-bot', { limit_micros: 1_000_000 }))
    const gwA = gatewayLedger(cp, a.id)
    gwA.draw(gwA.grant(500), 300, { room_micros: 500, model: 'mock-small', provider: 'mock' })
    const gwB = gatewayLedger(cp, b.id, { holder: 'gw:test-host:2:1:bbbbbb' })
    gwB.draw(gwB.grant(500), 200, { room_micros: 500, model: 'mock-small', provider: 'mock' })

    expect((await as(alice, () => cp.budgets.list())).map((x) => x.agent_name)).toEqual(['alice-bot'])
    await hidden(as(alice, () => cp.budgets.get('bob-bot')))
    await hidden(as(alice, () => cp.budgets.check('bob-bot')))
    await hidden(as(alice, () => cp.budgets.history('bob-bot')))
    await forbidden(
      as(alice, () => cp.budgets.adjust('alice-bot', { amount_micros: -100, reason: 'refund me' })),
    )
    await as(root, () =>
      cp.budgets.adjust('alice-bot', { amount_micros: -100, reason: 'refund a failed call' }),
    )

    const own = await as(alice, () => cp.usage.report({ by: 'agent' }))
    expect(own.rows.map((r) => [r.key, r.cost_micros])).toEqual([['alice-bot', 300]])
    expect(own.total.cost_micros).toBe(300)
    const byModel = await as(bob, () => cp.usage.report({ by: 'model' }))
    expect(byModel.total).toMatchObject({ requests: 1, cost_micros: 200 })
    await hidden(as(bob, () => cp.usage.report({ agent: 'alice-bot' })))
    const all = await as(root, () => cp.usage.report({ by: 'agent' }))
    expect(all.total.cost_micros).toBe(500)
    expect(await cp.usage.report({ by: 'agent' })).toEqual(all)
  })
})

describe('authorization: providers, pricing, safety', () => {
  it('shared settings: users read, admins write; viewers read prices and the policy only', async () => {
    const { cp, as, alice, vera, root } = await team()
    await forbidden(as(alice, () => cp.providers.add({ name: 'mock', kind: 'mock' })))
    await as(root, () => cp.providers.add({ name: 'mock', kind: 'mock' }))
    expect((await as(alice, () => cp.providers.list())).map((p) => p.name)).toEqual(['mock'])
    expect((await as(alice, () => cp.providers.get('mock'))).kind).toBe('mock')
    await forbidden(as(alice, () => cp.providers.update('mock', { description: 'x' })))
    await forbidden(as(alice, () => cp.providers.test('mock')))
    await forbidden(as(alice, () => cp.providers.remove('mock')))
    await forbidden(as(vera, () => cp.providers.list()))

    expect((await as(vera, () => cp.pricing.get('gpt-4o-mini'))).model).toBe('gpt-4o-mini')
    expect((await as(vera, () => cp.pricing.list())).length).toBeGreaterThan(0)
    const price = { model: 'gpt-4o-mini', input_micros_per_mtok: 1 }
    const setPrice = await forbidden(as(alice, () => cp.pricing.set(price)))
    expect(setPrice.message).toBe('Setting a price needs the admin role; you have the user role')
    await forbidden(as(alice, () => cp.pricing.unset('gpt-4o-mini')))
    await as(root, () => cp.pricing.set(price))

    expect((await as(vera, () => cp.safety.getPolicy())).agent).toBeNull()
    await forbidden(as(alice, () => cp.safety.setDefault({ input: { pii: 'off' } })))
    await forbidden(as(vera, () => cp.safety.scan({ text: 'hello' })))
    expect((await as(alice, () => cp.safety.scan({ text: 'hello' }))).blocked).toEqual([])
    await as(root, () => cp.agents.create({ name: 'team-bot' }))
    await hidden(as(alice, () => cp.safety.scan({ text: 'hello', agent: 'team-bot' })))
    await hidden(as(alice, () => cp.safety.getPolicy({ agent: 'team-bot' })))
  })
})

describe('authorization: audit', () => {
  it("a user reads the events of their agents and their own actions; verify and prune are an admin's", async () => {
    const { cp, as, alice, bob, root } = await team()
    await as(alice, () => cp.agents.create({ name: 'alice-bot' }))
    await as(bob, () => cp.agents.create({ name: 'bob-bot' }))
    await as(root, () => cp.budgets.set('alice-bot', { limit_micros: 1_000_000 }))
    await as(root, () => cp.providers.add({ name: 'mock', kind: 'mock' }))

    const page = await as(alice, () => cp.audit.list({}))
    const seen = page.events.map((e) => [e.actor, e.action, e.agent_name])
    expect(seen).toEqual([
      ['user:root', 'budget.set', 'alice-bot'],
      ['user:alice', 'agent.create', 'alice-bot'],
    ])
    expect(await as(alice, () => cp.audit.count({}))).toBe(2)
    const exported = []
    for await (const event of await as(alice, async () => cp.audit.stream({}))) exported.push(event.action)
    expect(exported).toEqual(['agent.create', 'budget.set'])
    const all = await as(root, () => cp.audit.list({}))
    expect(all.events).toHaveLength(4)
    const bobs = all.events.find((e) => e.agent_name === 'bob-bot')!
    const providers = all.events.find((e) => e.action === 'provider.add')!
    for (const ref of [bobs.id, String(bobs.seq), String(providers.seq)]) {
      const error = await hidden(
        as(alice, () => cp.audit.get(ref)),
        'AUDIT_EVENT_NOT_FOUND',
      )
      expect(error.message).toBe(`No audit event '${ref}'`)
    }
    expect((await as(alice, () => cp.audit.get(String(page.events[0]!.seq)))).action).toBe('budget.set')
    await hidden(as(alice, () => cp.audit.list({ agent: 'bob-bot' })))
    expect((await as(alice, () => cp.audit.list({ actor: 'user:bob' }))).events).toEqual([])
    await forbidden(as(alice, () => cp.audit.verify()))
    await forbidden(as(alice, () => cp.audit.prune(Date.now())))
    expect((await as(root, () => cp.audit.verify())).ok).toBe(true)
  })
})

describe('the rules table', () => {
  it('names the least role of every method, and a role includes the ones below it', () => {
    expect(allowed('agents.create', 'viewer')).toBe(false)
    expect(allowed('agents.create', 'user')).toBe(true)
    expect(allowed('agents.list', 'viewer')).toBe(true)
    expect(allowed('budgets.adjust', 'user')).toBe(false)
    for (const [method, rule] of Object.entries(RULES)) {
      expect(allowed(method as keyof typeof RULES, 'admin'), method).toBe(true)
      if (allowed(method as keyof typeof RULES, 'viewer'))
        expect(allowed(method as keyof typeof RULES, 'user')).toBe(true)
      expect(rule.what, method).toMatch(/^[A-Z]/)
    }
  })
})
