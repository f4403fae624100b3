import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { chainHash, eventPayload } from '../../src/store/audit.js'
import { ROOT } from '../helpers/cli.js'
import { tempControlPlane } from '../helpers/control-plane.js'

/** A store with a few events of each kind. */
async function populated() {
  const env = await tempControlPlane()
  const { cp } = env
  await cp.providers.add({ name: 'openai', kind: 'openai', api_key: 'sk-proj-secret-value-0123456789abcd' })
  await cp.agents.create({ name: 'bot', allowed_providers: ['openai'] })
  await cp.budgets.set('bot', { limit_micros: 1_000_000, alert_thresholds: [50] })
  const token = await cp.tokens.issue('bot')
  await cp.tokens.rotate('bot')
  await cp.agents.update('bot', { description: 'answers tickets' })
  await cp.pricing.set({ model: 'gpt-4o', input_micros_per_mtok: 2_000_000 })
  return { ...env, token }
}

/** Tamper with the raw table as someone with the file could: triggers dropped first. */
function tamper(
  db: ReturnType<Awaited<ReturnType<typeof tempControlPlane>>['ctx']['db']>,
  sql: string,
  ...params: unknown[]
) {
  db.exec('DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;')
  db.prepare(sql).run(...params)
}

describe('audit trail', () => {
  it('records every mutation with actor, action, resource, outcome and before/after, never a secret', async () => {
    const { cp, token } = await populated()
    const page = await cp.audit.list({ limit: 100 })
    const actions = page.events.map((e) => e.action).reverse()
    expect(actions).toEqual([
      'provider.add',
      'agent.create',
      'budget.set',
      'token.issue',
      'token.rotate',
      'agent.update',
      'pricing.set',
    ])
    for (const event of page.events) {
      expect(event.actor).toMatch(/^local:/)
      expect(event.outcome).toBe('success')
      expect(event.resource?.type).toBeTruthy()
    }
    const text = JSON.stringify(page.events)
    expect(text).not.toContain('sk-proj-secret-value')
    expect(text).not.toContain(token.token)
    const update = page.events.find((e) => e.action === 'agent.update')!
    expect(update.data).toEqual({ changes: { description: { before: '', after: 'answers tickets' } } })
    expect((await cp.audit.verify()).ok).toBe(true)
  })

  it('updates and deletes are refused by the store itself', async () => {
    const { ctx } = await populated()
    expect(() => ctx.db().prepare("UPDATE audit_events SET outcome = 'failure'").run()).toThrow(/append-only/)
    expect(() => ctx.db().prepare('DELETE FROM audit_events').run()).toThrow(/append-only/)
  })

  it.each([
    [
      'editing a field',
      (db: never) => tamper(db, "UPDATE audit_events SET actor = 'local:mallory' WHERE seq = 3"),
      3,
      'altered',
    ],
    [
      'editing the data',
      (db: never) => tamper(db, `UPDATE audit_events SET data = '{"after":{}}' WHERE seq = 2`),
      2,
      'altered',
    ],
    ['deleting one', (db: never) => tamper(db, 'DELETE FROM audit_events WHERE seq = 4'), 5, 'missing'],
    [
      'reordering two',
      (db: never) => {
        tamper(db, 'UPDATE audit_events SET seq = -1 WHERE seq = 3')
        tamper(db, 'UPDATE audit_events SET seq = 3 WHERE seq = 4')
        tamper(db, 'UPDATE audit_events SET seq = 4 WHERE seq = -1')
      },
      3,
      'prev_hash',
    ],
    [
      'inserting one',
      (db: never) => {
        tamper(db, 'UPDATE audit_events SET seq = seq + 100 WHERE seq >= 4')
        tamper(db, 'UPDATE audit_events SET seq = seq - 99 WHERE seq >= 104')
        tamper(
          db,
          `INSERT INTO audit_events (seq, id, at, actor, action, outcome, data, prev_hash, hash)
           SELECT 4, 'aud_01jd8x4k3m5n6p7q8r9s0t1v2w', at, actor, 'agent.delete', 'success', '{}', hash, hash FROM audit_events WHERE seq = 3`,
        )
      },
      4,
      'altered',
    ],
    [
      'editing the hash too',
      (db: never) => tamper(db, "UPDATE audit_events SET actor = 'local:mallory', hash = 'ab' WHERE seq = 3"),
      3,
      'altered',
    ],
  ])('verify catches %s and names the event', async (_name, act, seq, reason) => {
    const { cp, ctx } = await populated()
    act(ctx.db() as never)
    const result = await cp.audit.verify()
    expect(result.ok).toBe(false)
    expect(result.first_broken).toMatchObject({ seq })
    expect(result.first_broken?.reason).toContain(reason)
  })

  it('gives its head as a witness, and with expect_head catches events removed from the end', async () => {
    const { cp, ctx } = await populated()
    const whole = await cp.audit.verify()
    expect(whole).toMatchObject({ ok: true, events: 7, expected_head: null })
    expect(whole.witness).toBe(`7:${whole.head!.hash}`)
    expect(whole.witness).toMatch(/^7:[0-9a-f]{64}$/)
    const earlier = (await cp.audit.list({ limit: 10 })).events.find((e) => e.seq === 5)!

    // The head itself, an earlier head, and the same in capitals all hold.
    for (const witness of [whole.witness!, `5:${earlier.hash}`, ` 7:${whole.head!.hash.toUpperCase()} `]) {
      const held = await cp.audit.verify({ expect_head: witness })
      expect(held.ok, held.problems.join('; ')).toBe(true)
      expect(held.expected_head).toMatchObject({ ok: true })
    }

    // Removing the last events leaves a chain that holds on its own, but not one that reaches the witness.
    tamper(ctx.db() as never, 'DELETE FROM audit_events WHERE seq >= 6')
    expect((await cp.audit.verify()).ok).toBe(true)
    const cut = await cp.audit.verify({ expect_head: whole.witness! })
    expect(cut).toMatchObject({ ok: false, witness: null, expected_head: { seq: 7, ok: false } })
    expect(cut.problems).toEqual([
      'the chain ends at event 5, before the expected head 7: events after 5 were removed',
    ])

    // New events appended in their place make a chain that holds again, with another event 7.
    await cp.agents.update('bot', { description: 'rewritten' })
    await cp.agents.update('bot', { description: 'rewritten again' })
    expect((await cp.audit.verify()).ok).toBe(true)
    const rewritten = await cp.audit.verify({ expect_head: whole.witness! })
    expect(rewritten.ok).toBe(false)
    expect(rewritten.problems[0]).toMatch(
      /^event 7 has hash [0-9a-f]{64}, not the expected [0-9a-f]{64}: the history up to it was rewritten$/,
    )
  })

  it('expect_head is checked against a retention checkpoint, and must look like seq:hash', async () => {
    const { cp, clock } = await populated()
    const before = await cp.audit.verify()
    clock.now += 60_000
    await cp.agents.update('bot', { description: 'later' })
    await cp.audit.prune(clock.now - 1_000)
    // Event 7 was pruned: the checkpoint keeps its hash.
    expect((await cp.audit.verify({ expect_head: before.witness! })).ok).toBe(true)
    const five = await cp.audit.verify({ expect_head: `5:${'a'.repeat(64)}` })
    expect(five.ok).toBe(false)
    expect(five.problems[0]).toContain('the expected head 5 was pruned')
    for (const bad of ['7', `7:${'g'.repeat(64)}`, `0:${'a'.repeat(64)}`, `x:${'a'.repeat(64)}`, '7:abc']) {
      await expect(cp.audit.verify({ expect_head: bad })).rejects.toMatchObject({
        code: 'INVALID_AUDIT_HEAD',
        exitCode: 2,
      })
    }
  })

  it('pages with a cursor and filters by agent, actor, action, outcome and time', async () => {
    const { cp, clock } = await populated()
    const first = await cp.audit.list({ limit: 3 })
    expect(first.events).toHaveLength(3)
    const second = await cp.audit.list({ limit: 3, cursor: first.next_cursor! })
    expect(second.events[0]!.seq).toBe(first.events[2]!.seq - 1)
    const third = await cp.audit.list({ limit: 3, cursor: second.next_cursor! })
    expect(third.next_cursor).toBeNull()
    const bot = await cp.agents.get('bot')
    const forBot = (await cp.audit.list({ agent: 'bot' })).events
    expect(forBot.map((e) => e.action).reverse()).toEqual([
      'agent.create',
      'budget.set',
      'token.issue',
      'token.rotate',
      'agent.update',
    ])
    expect(new Set(forBot.map((e) => e.agent_id))).toEqual(new Set([bot.id]))
    expect((await cp.audit.list({ action: 'token' })).events.map((e) => e.action)).toEqual([
      'token.rotate',
      'token.issue',
    ])
    expect((await cp.audit.list({ action: 'token.issue' })).events).toHaveLength(1)
    expect((await cp.audit.list({ outcome: 'failure' })).events).toHaveLength(0)
    expect((await cp.audit.list({ since: clock.now + 1 })).events).toHaveLength(0)
    await expect(cp.audit.list({ cursor: 'bogus' })).rejects.toThrow(/not a cursor/)
  })

  it('finds an event by its sequence number as well as its ID, and names its agent', async () => {
    const { cp, ctx, clock } = await populated()
    const bot = await cp.agents.get('bot')
    const bySeq = await cp.audit.get('2')
    expect(bySeq).toMatchObject({ seq: 2, action: 'agent.create', agent_id: bot.id, agent_name: 'bot' })
    expect(await cp.audit.get(bySeq.id)).toEqual(bySeq)
    expect(await cp.audit.get('#2')).toEqual(bySeq)
    // A gateway request's actor is the agent's ID in the chain; its view carries the name beside it.
    const request = ctx
      .db()
      .transaction(() =>
        cp.audit.record({
          actor: `agent:${bot.id}`,
          action: 'gateway.request',
          agent_id: bot.id,
          outcome: 'success',
          data: {},
        }),
      )
      .immediate()
    const listed = (await cp.audit.list({ limit: 1 })).events[0]!
    expect(listed).toMatchObject({ seq: request.seq, actor: `agent:${bot.id}`, agent_name: 'bot' })
    const streamed: string[] = []
    for await (const e of cp.audit.stream({ after_seq: request.seq - 1 })) streamed.push(e.agent_name ?? '')
    expect(streamed).toEqual(['bot'])
    // The export stays the chained event, exactly as hashed.
    expect([...cp.audit.iterate({ after_seq: request.seq - 1 })][0]).not.toHaveProperty('agent_name')
    // A deleted agent keeps its name in the trail's views.
    await cp.agents.delete('bot', { force: true })
    expect((await cp.audit.get('2')).agent_name).toBe('bot')
    await expect(cp.audit.get('999')).rejects.toMatchObject({ code: 'AUDIT_EVENT_NOT_FOUND', exitCode: 3 })
    clock.now += 60_000
    await cp.agents.create({ name: 'later' })
    await cp.audit.prune(clock.now - 1_000)
    await expect(cp.audit.get('2')).rejects.toThrow(/Audit event 2 was pruned/)
  })

  it('prune removes a prefix and leaves a signed checkpoint that verify still proves', async () => {
    const { cp, ctx, clock } = await populated()
    clock.now += 60_000
    await cp.agents.update('bot', { description: 'later' })
    const result = await cp.audit.prune(clock.now - 1_000)
    expect(result.pruned).toBe(7)
    const after = await cp.audit.verify()
    expect(after).toMatchObject({ ok: true, pruned: { events: 7, through_seq: 7 }, checkpoints: 1 })
    expect(after.events).toBe(2)
    expect((await cp.audit.list({})).events.map((e) => e.action)).toEqual(['audit.prune', 'agent.update'])
    // A forged checkpoint is caught.
    ctx.db().exec('DROP TRIGGER audit_checkpoints_no_update')
    ctx.db().prepare('UPDATE audit_checkpoints SET pruned = 1').run()
    const forged = await cp.audit.verify()
    expect(forged.ok).toBe(false)
    expect(forged.problems[0]).toContain('signature')
  })

  it('stays one chain when several processes append at once', async () => {
    const { cp, ctx, dirs } = await populated()
    ctx.close()
    const script = `
      import { IronConfig } from './dist/src/config/config.js'
      import { LocalContext } from './dist/src/services/context.js'
      import { createLocalControlPlane } from './dist/src/services/local/index.js'
      const ctx = new LocalContext({ config: await IronConfig.load(${JSON.stringify(dirs)}, {}), env: { IRON_MASTER_KEY: '${'ab'.repeat(32)}' } })
      const cp = createLocalControlPlane(ctx)
      for (let i = 0; i < 40; i++) await cp.agents.create({ name: 'p' + process.pid + '-' + i })
      ctx.close()
    `
    await Promise.all(
      Array.from(
        { length: 3 },
        () =>
          new Promise((resolve, reject) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
              cwd: ROOT,
              stdio: ['ignore', 'ignore', 'pipe'],
            })
            let err = ''
            child.stderr.on('data', (d) => (err += d))
            child.on('close', (code) => (code === 0 ? resolve(code) : reject(new Error(err))))
          }),
      ),
    )
    const again = createLocalControlPlane(ctx)
    const verify = await again.audit.verify()
    expect(verify.ok, verify.problems.join('; ')).toBe(true)
    expect(verify.events).toBe(7 + 3 * 40)
    void cp
  })
})

describe('audit chain (what verify must catch)', () => {
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

  it('hashes each event as sha256(prev_hash + canonical JSON), written out here by hand', async () => {
    const { cp, ctx } = await tempControlPlane()
    const at = Date.parse('2026-03-10T12:00:00.000Z')
    ctx.db().transaction(() => {
      cp.audit.record({
        id: 'aud_01jd8x4k3m5n6p7q8r9s0t1v2w',
        at,
        actor: 'local:alice',
        action: 'agent.create',
        resource_type: 'agent',
        resource_id: 'agent_01jd8x4k3m5n6p7q8r9s0t1v2w',
        agent_id: 'agent_01jd8x4k3m5n6p7q8r9s0t1v2w',
        outcome: 'success',
        data: { name: 'bot', limits: { rpm: 60, tpm: null }, allowed: ['openai'] },
      })
      cp.audit.record({
        id: 'aud_01jd8x4k3m5n6p7q8r9s0t1v2x',
        at: at + 1,
        actor: 'system',
        action: 'alert',
        outcome: 'failure',
        data: {},
      })
    })()
    const stored = ctx
      .db()
      .prepare('SELECT seq, prev_hash, hash FROM audit_events ORDER BY seq')
      .all() as Array<{
      seq: number
      prev_hash: string
      hash: string
    }>
    const genesis = '0'.repeat(64)
    const first = sha256(
      genesis +
        '{"action":"agent.create","actor":"local:alice","agent_id":"agent_01jd8x4k3m5n6p7q8r9s0t1v2w",' +
        '"at":"2026-03-10T12:00:00.000Z","data":{"allowed":["openai"],"limits":{"rpm":60,"tpm":null},"name":"bot"},' +
        '"id":"aud_01jd8x4k3m5n6p7q8r9s0t1v2w","outcome":"success","resource_id":"agent_01jd8x4k3m5n6p7q8r9s0t1v2w",' +
        '"resource_type":"agent","seq":1}',
    )
    const second = sha256(
      first +
        '{"action":"alert","actor":"system","agent_id":null,"at":"2026-03-10T12:00:00.001Z","data":{},' +
        '"id":"aud_01jd8x4k3m5n6p7q8r9s0t1v2x","outcome":"failure","resource_id":null,"resource_type":null,"seq":2}',
    )
    expect(stored).toEqual([
      { seq: 1, prev_hash: genesis, hash: first },
      { seq: 2, prev_hash: first, hash: second },
    ])
    expect((await cp.audit.verify()).ok).toBe(true)
  })

  it("names event N+1 when event N is edited, its hash recomputed and N+1's prev_hash made to match", async () => {
    const { cp, ctx } = await populated()
    const db = ctx.db()
    const row = db.prepare('SELECT * FROM audit_events WHERE seq = 5').get() as Parameters<
      typeof eventPayload
    >[0] & {
      prev_hash: string
    }
    const forged = { ...row, actor: 'local:mallory' }
    const hash = chainHash(row.prev_hash, eventPayload(forged))
    tamper(db as never, 'UPDATE audit_events SET actor = ?, hash = ? WHERE seq = 5', forged.actor, hash)
    tamper(db as never, 'UPDATE audit_events SET prev_hash = ? WHERE seq = 6', hash)
    const result = await cp.audit.verify()
    expect(result.ok).toBe(false)
    // Event 5 and the link to it hold; event 6's hash covered the prev_hash it had.
    expect(result.first_broken).toMatchObject({ seq: 6, reason: expect.stringContaining('altered') })
  })

  it('verifies a chain longer than a page to its end, and counts every event', async () => {
    const { cp, ctx } = await tempControlPlane()
    const total = 2_500
    ctx.db().transaction(() => {
      for (let i = 0; i < total; i++) cp.audit.record({ action: 'alert', outcome: 'success', data: { i } })
    })()
    const whole = await cp.audit.verify()
    expect(whole).toMatchObject({ ok: true, events: total, head: { seq: total } })
    tamper(ctx.db() as never, `UPDATE audit_events SET data = '{"i":-1}' WHERE seq = 2345`)
    const broken = await cp.audit.verify()
    expect(broken).toMatchObject({ ok: false, events: total, first_broken: { seq: 2345 } })
    expect(broken.first_broken?.reason).toContain('altered')
  })

  // Written out here rather than read from the implementation: leaving a column out of the hash fails a case
  // (and the known-answer test above). Each edits event 6 (agent.update, every column set) on a store of its own.
  const HASHED: Array<[column: string, value: unknown]> = [
    ['id', 'aud_01jd8x4k3m5n6p7q8r9s0t1v2w'],
    ['at', Date.parse('2026-03-10T12:00:00.000Z') - 86_400_000],
    ['actor', 'local:mallory'],
    ['action', 'agent.delete'],
    ['resource_type', 'provider'],
    ['resource_id', 'agent_01jd8x4k3m5n6p7q8r9s0t1v2w'],
    ['agent_id', null],
    ['outcome', 'failure'],
    ['data', '{"changes":{}}'],
  ]

  it.each(HASHED)('catches an edit of %s alone and names the event', async (column, value) => {
    const { cp, ctx } = await populated()
    const db = ctx.db()
    const before = db.prepare('SELECT * FROM audit_events WHERE seq = 6').get() as Record<string, unknown>
    expect(before.action).toBe('agent.update')
    expect(before[column]).not.toEqual(value)
    tamper(db as never, `UPDATE audit_events SET ${column} = ? WHERE seq = 6`, value)
    const result = await cp.audit.verify()
    expect(result.ok).toBe(false)
    expect(result.first_broken).toMatchObject({ seq: 6, reason: expect.stringContaining('altered') })
    if (column !== 'id') expect(result.first_broken!.id).toBe(before.id)
  })

  it('catches an edit of seq (the last event renumbered) and names the event', async () => {
    const { cp, ctx } = await populated()
    const db = ctx.db()
    const last = db.prepare('SELECT id FROM audit_events WHERE seq = 7').pluck().get()
    tamper(db as never, 'UPDATE audit_events SET seq = 8 WHERE seq = 7')
    const result = await cp.audit.verify()
    expect(result.ok).toBe(false)
    expect(result.first_broken).toMatchObject({ seq: 8, id: last })
  })
})
