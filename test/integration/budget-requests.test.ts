import { describe, expect, it } from 'vitest'
import type { IronError } from '../../src/core/errors.js'
import { LocalContext } from '../../src/services/context.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { type Principal, runAs } from '../../src/services/principal.js'
import { tempControlPlane } from '../helpers/control-plane.js'

const failure = async (p: Promise<unknown>) => {
  const error = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as IronError | undefined
  if (!error) throw new Error('expected the call to fail')
  return { code: error.code, exit: error.exitCode, message: error.message, hint: error.hint }
}

const principal = (name: string, role: Principal['role']): Principal => ({
  via: 'session',
  actor: `user:${name}`,
  user_id: `user_${name}`,
  user_name: name,
  role,
})
const alice = principal('alice', 'user')
const bob = principal('bob', 'user')
const vera = principal('vera', 'viewer')
const root = principal('root', 'admin')

async function setup() {
  const t = await tempControlPlane()
  const agent = await t.cp.agents.create({ name: 'bot' })
  await t.cp.budgets.set('bot', { limit_micros: 10_000_000, period: 'monthly' })
  return { ...t, agent }
}

/** The agent belongs to a user (iron serve's agents have owners; the local store's have none). */
function own(db: ReturnType<LocalContext['db']>, agentId: string, who: Principal) {
  db.prepare('UPDATE agents SET owner_id = ? WHERE id = ?').run(who.user_id, agentId)
}

describe('budget change requests', () => {
  it('create by name or ID, list newest first with filters, get by ID', async () => {
    const { cp, agent, clock } = await setup()
    const other = await cp.agents.create({ name: 'other' })
    await cp.budgets.set('other', { limit_micros: 1_000_000 })
    const first = await cp.budgetRequests.create('bot', { limit_micros: 25_000_000, reason: 'launch week' })
    expect(first).toMatchObject({
      agent_id: agent.id,
      agent_name: 'bot',
      limit_micros: 25_000_000,
      previous_limit_micros: 10_000_000,
      reason: 'launch week',
      status: 'pending',
      decided_by: null,
      decided_at: null,
      decision_note: null,
    })
    expect(first.id).toMatch(/^breq_[0-9a-z]{26}$/)
    expect(first.requested_by).toMatch(/^local:/)
    clock.now += 1_000
    const second = await cp.budgetRequests.create(other.id, {
      limit_micros: null,
      reason: '  no cap please  ',
    })
    expect(second).toMatchObject({ agent_name: 'other', limit_micros: null, reason: 'no cap please' })

    expect((await cp.budgetRequests.list()).map((r) => r.id)).toEqual([second.id, first.id])
    expect((await cp.budgetRequests.list({ agent: 'bot' })).map((r) => r.id)).toEqual([first.id])
    await cp.budgetRequests.reject(second.id)
    expect((await cp.budgetRequests.list({ status: 'pending' })).map((r) => r.id)).toEqual([first.id])
    expect((await cp.budgetRequests.list({ status: 'rejected' })).map((r) => r.id)).toEqual([second.id])
    expect(await cp.budgetRequests.get(first.id.toUpperCase())).toEqual(first)

    expect(await failure(cp.budgetRequests.get('breq_nope'))).toMatchObject({ code: 'INVALID_ID', exit: 2 })
    expect(await failure(cp.budgetRequests.get('breq_0000000000000000000000000a'))).toMatchObject({
      code: 'BUDGET_REQUEST_NOT_FOUND',
      exit: 3,
    })
    expect(await failure(cp.budgetRequests.list({ status: 'maybe' as 'pending' }))).toMatchObject({
      code: 'INVALID_STATUS',
      exit: 2,
    })
    expect(await failure(cp.budgetRequests.list({ agent: 'ghost' }))).toMatchObject({
      code: 'AGENT_NOT_FOUND',
    })
  })

  it('refuses bad input: negative or fractional limits, an empty or overlong reason, an unknown agent', async () => {
    const { cp } = await setup()
    for (const limit of [-1, 1.5, Number.NaN, 2 ** 60]) {
      expect(
        await failure(cp.budgetRequests.create('bot', { limit_micros: limit, reason: 'x' })),
      ).toMatchObject({ code: 'INVALID_MONEY', exit: 2 })
    }
    for (const reason of ['', '   ', 'x'.repeat(501)]) {
      expect(await failure(cp.budgetRequests.create('bot', { limit_micros: 1, reason }))).toMatchObject({
        code: 'INVALID_REASON',
        exit: 2,
      })
    }
    expect(await cp.budgetRequests.create('bot', { limit_micros: 0, reason: 'x'.repeat(500) })).toMatchObject(
      {
        limit_micros: 0,
      },
    )
    expect(await failure(cp.budgetRequests.create('ghost', { limit_micros: 1, reason: 'x' }))).toMatchObject({
      code: 'AGENT_NOT_FOUND',
      exit: 3,
    })
    const { cp: fresh } = await setup()
    expect(
      await failure(fresh.budgetRequests.create('bot', { limit_micros: 10_000_000, reason: 'same' })),
    ).toMatchObject({ code: 'NOTHING_TO_REQUEST', exit: 2 })
  })

  it('one pending request per agent: a second is refused naming the pending one', async () => {
    const { cp } = await setup()
    const pending = await cp.budgetRequests.create('bot', { limit_micros: 20_000_000, reason: 'more' })
    const refused = await failure(
      cp.budgetRequests.create('bot', { limit_micros: 30_000_000, reason: 'even more' }),
    )
    expect(refused).toMatchObject({ code: 'BUDGET_REQUEST_PENDING', exit: 1 })
    expect(refused.message).toContain(pending.id)
    expect(refused.hint).toContain(`iron budget cancel ${pending.id}`)
    await cp.budgetRequests.cancel(pending.id)
    expect(
      await cp.budgetRequests.create('bot', { limit_micros: 30_000_000, reason: 'even more' }),
    ).toMatchObject({
      status: 'pending',
    })
  })

  it('approve sets the limit and the grant through budget set, with the status and audit events in one go', async () => {
    const { cp, ctx, agent } = await setup()
    const request = await cp.budgetRequests.create('bot', { limit_micros: 25_000_000, reason: 'launch' })
    const approved = await cp.budgetRequests.approve(request.id, { note: 'ok for March' })
    expect(approved).toMatchObject({
      status: 'approved',
      decision_note: 'ok for March',
      limit_micros: 25_000_000,
      previous_limit_micros: 10_000_000,
    })
    expect(approved.decided_by).toMatch(/^local:/)
    expect(approved.decided_at).not.toBeNull()
    expect((await cp.budgets.get('bot')).limit_micros).toBe(25_000_000)
    const granted = ctx.db().prepare('SELECT granted_limit_micros FROM budgets WHERE agent_id = ?').pluck()
    expect(granted.get(agent.id)).toBe(25_000_000)

    const events = (await cp.audit.list({ agent: 'bot', limit: 10 })).events
    const actions = events.map((e) => e.action)
    expect(actions.slice(0, 3)).toEqual(['budget_request.approve', 'budget.set', 'budget_request.create'])
    const [decision, set, created] = events
    expect(decision!.data).toEqual({ before: request, after: approved })
    expect(decision!.resource).toEqual({ type: 'budget_request', id: request.id })
    expect(set!.data).toMatchObject({
      budget_request: request.id,
      changes: {
        limit_micros: { before: 10_000_000, after: 25_000_000 },
        granted_limit_micros: { before: 10_000_000, after: 25_000_000 },
      },
    })
    expect(created!.data).toEqual({ before: null, after: request })
    // All three are one transaction: consecutive events.
    expect(created!.seq + 2).toBe(decision!.seq)
  })

  it('a decided request is refused (exit 1, BUDGET_REQUEST_DECIDED) and nothing changes', async () => {
    const { cp } = await setup()
    const rejected = await cp.budgetRequests.create('bot', { limit_micros: 99_000_000, reason: 'lots' })
    expect(await cp.budgetRequests.reject(rejected.id, { note: 'too much' })).toMatchObject({
      status: 'rejected',
      decision_note: 'too much',
    })
    expect((await cp.budgets.get('bot')).limit_micros).toBe(10_000_000)
    const head = (await cp.audit.list({ limit: 1 })).events[0]!.seq
    for (const decide of [
      () => cp.budgetRequests.approve(rejected.id),
      () => cp.budgetRequests.reject(rejected.id),
      () => cp.budgetRequests.cancel(rejected.id),
    ]) {
      const error = await failure(decide())
      expect(error).toMatchObject({ code: 'BUDGET_REQUEST_DECIDED', exit: 1 })
      expect(error.message).toBe(
        `Budget request ${rejected.id} was already rejected by ${rejected.requested_by}`,
      )
    }
    expect((await cp.budgets.get('bot')).limit_micros).toBe(10_000_000)
    expect((await cp.budgetRequests.get(rejected.id)).status).toBe('rejected')
    expect((await cp.audit.list({ limit: 1 })).events[0]!.seq).toBe(head)
  })

  it('an approval that cannot set the limit leaves the request pending and writes nothing', async () => {
    const { cp } = await setup()
    const request = await cp.budgetRequests.create('bot', { limit_micros: 20_000_000, reason: 'more' })
    await cp.agents.delete('bot', { force: true })
    const head = (await cp.audit.list({ limit: 1 })).events[0]!.seq
    expect(await failure(cp.budgetRequests.approve(request.id))).toMatchObject({ code: 'AGENT_NOT_FOUND' })
    expect((await cp.budgetRequests.get(request.id)).status).toBe('pending')
    expect((await cp.audit.list({ limit: 1 })).events[0]!.seq).toBe(head)
    expect((await cp.budgetRequests.reject(request.id)).status).toBe('rejected')
  })

  it('two store connections: a decision made on one is seen by the other inside its own transaction', async () => {
    const { cp, ctx } = await setup()
    const ctx2 = new LocalContext({ config: ctx.config, env: {}, db: ctx.dbPath })
    const cp2 = createLocalControlPlane(ctx2)
    const request = await cp.budgetRequests.create('bot', { limit_micros: 20_000_000, reason: 'more' })
    // Connection 1 saw it pending; connection 2 cancels it; connection 1's approval must not win as well.
    expect((await cp.budgetRequests.get(request.id)).status).toBe('pending')
    expect((await cp2.budgetRequests.cancel(request.id)).status).toBe('cancelled')
    expect(await failure(cp.budgetRequests.approve(request.id))).toMatchObject({
      code: 'BUDGET_REQUEST_DECIDED',
      exit: 1,
    })
    expect((await cp.budgets.get('bot')).limit_micros).toBe(10_000_000)
    expect((await cp.audit.count({ action: 'budget_request.approve' })) + 0).toBe(0)
    expect(await cp.audit.count({ action: 'budget_request.cancel' })).toBe(1)
    ctx2.close()
  })
})

describe('budget requests and budgets in team mode (a principal)', () => {
  it('a user asks for their own agent, cannot decide, cancels their own; an admin approves', async () => {
    const { cp, ctx, agent } = await setup()
    own(ctx.db(), agent.id, alice)
    const request = await runAs(alice, () =>
      cp.budgetRequests.create('bot', { limit_micros: 20_000_000, reason: 'more' }),
    )
    expect(request.requested_by).toBe('user:alice')
    for (const decide of ['approve', 'reject'] as const) {
      const error = await failure(runAs(alice, () => cp.budgetRequests[decide](request.id)))
      expect(error).toMatchObject({ code: 'FORBIDDEN', exit: 4 })
      expect(error.message).toContain('admin')
    }
    // Another user does not see it at all (no existence leak); a viewer cannot ask.
    expect(await failure(runAs(bob, () => cp.budgetRequests.get(request.id)))).toMatchObject({
      code: 'BUDGET_REQUEST_NOT_FOUND',
      exit: 3,
    })
    expect(await failure(runAs(bob, () => cp.budgetRequests.cancel(request.id)))).toMatchObject({
      code: 'BUDGET_REQUEST_NOT_FOUND',
    })
    expect(await runAs(bob, () => cp.budgetRequests.list())).toEqual([])
    expect(
      await failure(runAs(bob, () => cp.budgetRequests.create('bot', { limit_micros: 1, reason: 'x' }))),
    ).toMatchObject({ code: 'AGENT_NOT_FOUND', exit: 3 })
    own(ctx.db(), agent.id, vera)
    expect(
      await failure(runAs(vera, () => cp.budgetRequests.create('bot', { limit_micros: 1, reason: 'x' }))),
    ).toMatchObject({ code: 'FORBIDDEN', exit: 4 })
    own(ctx.db(), agent.id, alice)
    expect((await runAs(alice, () => cp.budgetRequests.list())).map((r) => r.id)).toEqual([request.id])
    expect((await runAs(alice, () => cp.budgetRequests.cancel(request.id))).decided_by).toBe('user:alice')

    const again = await runAs(alice, () =>
      cp.budgetRequests.create('bot', { limit_micros: 20_000_000, reason: 'more, really' }),
    )
    const approved = await runAs(root, () => cp.budgetRequests.approve(again.id))
    expect(approved).toMatchObject({ status: 'approved', decided_by: 'user:root' })
    expect((await cp.budgets.get('bot')).limit_micros).toBe(20_000_000)
  })

  it('an admin cancels anyone’s request; an owner who did not ask cannot', async () => {
    const { cp, ctx, agent } = await setup()
    const request = await cp.budgetRequests.create('bot', { limit_micros: 20_000_000, reason: 'more' })
    own(ctx.db(), agent.id, alice)
    expect(await runAs(alice, () => cp.budgetRequests.get(request.id))).toMatchObject({ id: request.id })
    expect(await failure(runAs(alice, () => cp.budgetRequests.cancel(request.id)))).toMatchObject({
      code: 'FORBIDDEN',
      exit: 4,
    })
    expect((await runAs(root, () => cp.budgetRequests.cancel(request.id))).status).toBe('cancelled')
  })

  it('a user sets their agent’s limit up to the grant and no further; only admins change the period or adjust', async () => {
    const { cp, ctx, agent } = await setup()
    own(ctx.db(), agent.id, alice)
    expect((await runAs(alice, () => cp.budgets.set('bot', { limit_micros: 4_000_000 }))).limit_micros).toBe(
      4_000_000,
    )
    // Lowering their own limit does not lower the grant: they can go back up to it.
    expect((await runAs(alice, () => cp.budgets.set('bot', { limit_micros: 10_000_000 }))).limit_micros).toBe(
      10_000_000,
    )
    for (const limit_micros of [10_000_001, null]) {
      const error = await failure(runAs(alice, () => cp.budgets.set('bot', { limit_micros })))
      expect(error).toMatchObject({ code: 'FORBIDDEN', exit: 4 })
      expect(error.message).toContain('$10.00, what an admin granted')
      expect(error.hint).toContain('iron budget request bot')
    }
    expect(await failure(runAs(alice, () => cp.budgets.set('bot', { period: 'daily' })))).toMatchObject({
      code: 'FORBIDDEN',
    })
    expect(
      (await runAs(alice, () => cp.budgets.set('bot', { alert_thresholds: [90], on_insufficient: 'clamp' })))
        .alert_thresholds,
    ).toEqual([90])
    expect(
      await failure(runAs(alice, () => cp.budgets.adjust('bot', { amount_micros: -1, reason: 'refund' }))),
    ).toMatchObject({ code: 'FORBIDDEN', exit: 4 })
    // Someone else's agent is not there for them; a viewer reads but does not set.
    expect(await failure(runAs(bob, () => cp.budgets.get('bot')))).toMatchObject({ code: 'AGENT_NOT_FOUND' })
    expect(await failure(runAs(bob, () => cp.budgets.set('bot', { limit_micros: 1 })))).toMatchObject({
      code: 'AGENT_NOT_FOUND',
    })
    expect((await runAs(bob, () => cp.budgets.list())).length).toBe(0)
    expect((await runAs(alice, () => cp.budgets.list())).map((b) => b.agent_name)).toEqual(['bot'])
    own(ctx.db(), agent.id, vera)
    expect((await runAs(vera, () => cp.budgets.get('bot'))).limit_micros).toBe(10_000_000)
    expect(await failure(runAs(vera, () => cp.budgets.set('bot', { limit_micros: 1 })))).toMatchObject({
      code: 'FORBIDDEN',
    })
    // An admin's limit is the new grant.
    own(ctx.db(), agent.id, alice)
    await runAs(root, () => cp.budgets.set('bot', { limit_micros: 50_000_000 }))
    expect((await runAs(alice, () => cp.budgets.set('bot', { limit_micros: 50_000_000 }))).limit_micros).toBe(
      50_000_000,
    )
    const set = (await cp.audit.list({ action: 'budget.set', limit: 1 })).events[0]!
    expect(set.actor).toBe('user:alice')
  })

  it('an agent created with a $0 limit can spend nothing until granted, and its owner cannot raise it', async () => {
    const { cp, ctx, clock } = await setup()
    const agent = await cp.agents.create({ name: 'fresh' })
    // What iron serve does for an agent a user creates (H1): limit and grant both $0.
    ctx
      .db()
      .prepare('UPDATE budgets SET limit_micros = 0, granted_limit_micros = 0 WHERE agent_id = ?')
      .run(agent.id)
    own(ctx.db(), agent.id, alice)
    expect(await failure(runAs(alice, () => cp.budgets.set('fresh', { limit_micros: 1 })))).toMatchObject({
      code: 'FORBIDDEN',
    })
    clock.now += 1
    const request = await runAs(alice, () =>
      cp.budgetRequests.create('fresh', { limit_micros: 5_000_000, reason: 'start' }),
    )
    expect(request.previous_limit_micros).toBe(0)
    await runAs(root, () => cp.budgetRequests.approve(request.id))
    expect(
      (await runAs(alice, () => cp.budgets.set('fresh', { limit_micros: 5_000_000 }))).limit_micros,
    ).toBe(5_000_000)
  })
})
