import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { IronError } from '../../src/core/errors.js'
import type { AuditEvent, ControlPlane, Whoami } from '../../src/services/api.js'
import type { LocalControlPlane } from '../../src/services/local/index.js'
import { gatewayLedger } from '../helpers/ledger.js'

/**
 * THE contract of the control plane (SPEC §1): one suite over the ControlPlane interface, run against the
 * local services on a temporary store and against the HTTP client talking to a real `iron serve`. Every
 * test must pass the same on both: same values, same errors (code, exit code, message), same paging.
 */
export interface ContractHarness {
  /** The implementation under test. */
  cp: ControlPlane
  /**
   * The same store, in this process, for what the interface cannot do by design: a gateway's charges
   * (usage, spend). For the local harness it is `cp` itself; for HTTP, a second connection to the server's store.
   */
  store: LocalControlPlane
  /** The audit actor of what `cp`'s caller does (`local:<os user>`, `user:<name>`). */
  actor: string
  /** Who whoami says the caller is: the local store's owner, or the signed-in admin. */
  me: Partial<Whoami>
  close(): Promise<void>
}

/** The error a call rejects with, or a failure if it resolves. */
async function failure(promise: Promise<unknown>): Promise<IronError> {
  try {
    await promise
  } catch (error) {
    return error as IronError
  }
  throw new Error('expected the call to fail, and it succeeded')
}

/** What a test compares of an error: all a client sees (the request id of a server error aside). */
const shape = (error: IronError) => ({ code: error.code, exitCode: error.exitCode, message: error.message })

let seq = 0
/** A name no other test uses, so tests sharing one store stay independent. */
const unique = (label: string) => `${label}-${++seq}`

export function describeControlPlane(label: string, start: () => Promise<ContractHarness>): void {
  describe(`control plane contract: ${label}`, () => {
    let h: ContractHarness
    let cp: ControlPlane
    beforeAll(async () => {
      h = await start()
      cp = h.cp
    })
    afterAll(async () => {
      await h?.close()
    })

    describe('agents', () => {
      it('create returns the agent, the same by name and by ID, and in the list', async () => {
        const name = unique('agent')
        const agent = await cp.agents.create({
          name,
          description: 'support bot',
          project: 'support',
          allowed_models: ['gpt-4o-mini'],
          requests_per_minute: 60,
        })
        expect(agent).toMatchObject({
          name,
          description: 'support bot',
          project: 'support',
          allowed_providers: [],
          allowed_models: ['gpt-4o-mini'],
          rate_limits: { requests_per_minute: 60, tokens_per_minute: null },
          safety_policy: null,
          status: 'active',
          deleted_at: null,
          token: null,
        })
        expect(agent.id).toMatch(/^agent_/)
        expect(await cp.agents.get(name)).toEqual(agent)
        expect(await cp.agents.get(agent.id)).toEqual(agent)
        expect((await cp.agents.list()).find((a) => a.id === agent.id)).toEqual(agent)
        expect((await cp.agents.list({ project: 'support' })).map((a) => a.id)).toContain(agent.id)
        expect((await cp.agents.list({ project: 'no-such-project' })).map((a) => a.id)).not.toContain(
          agent.id,
        )
      })

      it('a taken name, a bad name and an unknown model are refused with the service’s own errors', async () => {
        const name = unique('agent')
        await cp.agents.create({ name })
        expect(shape(await failure(cp.agents.create({ name })))).toMatchObject({
          code: 'NAME_TAKEN',
          exitCode: 1,
        })
        expect(shape(await failure(cp.agents.create({ name: 'no spaces allowed' })))).toMatchObject({
          code: 'INVALID_NAME',
          exitCode: 2,
        })
        const unknownModel = await failure(
          cp.agents.create({ name: unique('agent'), allowed_models: ['gpt-99'] }),
        )
        expect(unknownModel.exitCode).toBe(3)
      })

      it('update changes what it is given and leaves the rest', async () => {
        const name = unique('agent')
        const created = await cp.agents.create({ name, description: 'before', tokens_per_minute: 1000 })
        const updated = await cp.agents.update(name, { description: 'after', status: 'suspended' })
        expect(updated).toMatchObject({
          id: created.id,
          description: 'after',
          status: 'suspended',
          rate_limits: { requests_per_minute: null, tokens_per_minute: 1000 },
        })
        expect(await cp.agents.get(created.id)).toEqual(updated)
        expect((await cp.agents.update(created.id, { status: 'active' })).status).toBe('active')
      })

      it('delete (forced) revokes the token; the agent is then gone except with include_deleted', async () => {
        const name = unique('agent')
        const agent = await cp.agents.create({ name })
        const issued = await cp.tokens.issue(name)
        const result = await cp.agents.delete(name, { force: true })
        expect(result.agent).toMatchObject({ id: agent.id, status: 'deleted' })
        expect(result.revoked_token).toBe(issued.id)
        expect((await failure(cp.agents.get(name))).exitCode).toBe(3)
        expect((await cp.agents.list()).map((a) => a.id)).not.toContain(agent.id)
        const all = await cp.agents.list({ include_deleted: true })
        expect(all.find((a) => a.id === agent.id)?.status).toBe('deleted')
      })

      it('an unknown agent is not found, and a reference is one path segment whatever it holds', async () => {
        const missing = await failure(cp.agents.get('nobody-here'))
        expect(shape(missing)).toMatchObject({ exitCode: 3 })
        for (const ref of ['../agents', 'a/b', 'x?y=1', '%2e%2e', 'ünïcödé']) {
          const error = await failure(cp.agents.get(ref))
          expect(error.exitCode, ref).toBe(3)
        }
      })

      it('the list holds every agent, past one page of the server', async () => {
        const project = unique('many')
        const names = Array.from({ length: 12 }, (_, i) => `${project}-${i}`)
        for (const name of names) await cp.agents.create({ name, project })
        const listed = await cp.agents.list({ project })
        expect(listed.map((a) => a.name).sort()).toEqual([...names].sort())
        expect(new Set(listed.map((a) => a.id)).size).toBe(12)
      })
    })

    describe('tokens', () => {
      it('issue shows the secret once; list, get and the agent show only its prefix', async () => {
        const name = unique('tok')
        await cp.agents.create({ name })
        const issued = await cp.tokens.issue(name, { expires_in_ms: 3_600_000 })
        expect(issued.token).toMatch(/^iron_ic_[0-9A-Za-z]{38}$/)
        expect(issued.token.startsWith(issued.prefix)).toBe(true)
        expect(Date.parse(issued.expires_at!) - Date.parse(issued.created_at)).toBe(3_600_000)
        const { token: _secret, ...summary } = issued
        expect(await cp.tokens.get(issued.id)).toEqual(summary)
        expect(await cp.tokens.list({ agent: name })).toEqual([summary])
        const agent = await cp.agents.get(name)
        expect(agent.token?.id).toBe(issued.id)
        expect(JSON.stringify(await cp.tokens.list())).not.toContain(issued.token)
        expect(JSON.stringify(agent)).not.toContain(issued.token)
      })

      it('a second live token is refused; rotate replaces it and keeps the old one listed as revoked', async () => {
        const name = unique('tok')
        await cp.agents.create({ name })
        const first = await cp.tokens.issue(name)
        const again = await failure(cp.tokens.issue(name))
        expect(shape(again)).toMatchObject({ code: 'TOKEN_EXISTS', exitCode: 1 })
        const second = await cp.tokens.rotate(name)
        expect(second.id).not.toBe(first.id)
        expect(second.token).not.toBe(first.token)
        expect((await cp.tokens.get(first.id)).status).toBe('revoked')
        expect((await cp.tokens.list({ agent: name })).map((t) => t.id)).toEqual([second.id])
        const all = await cp.tokens.list({ agent: name, include_revoked: true })
        expect(all.map((t) => t.id).sort()).toEqual([first.id, second.id].sort())
        const revoked = await cp.tokens.revoke(second.id)
        expect(revoked).toMatchObject({ id: second.id, status: 'revoked' })
        expect(await cp.tokens.list({ agent: name })).toEqual([])
      })

      it('revoke takes the agent too; an unknown token is not found', async () => {
        const name = unique('tok')
        await cp.agents.create({ name })
        const issued = await cp.tokens.issue(name)
        expect((await cp.tokens.revoke(name)).id).toBe(issued.id)
        const revokedAgain = await failure(cp.tokens.revoke(issued.id))
        expect(revokedAgain.exitCode).not.toBe(0)
        const missing = await failure(cp.tokens.get('ic_00000000000000000000000000'))
        expect(missing.exitCode).toBe(3)
        // A secret is never a reference: refused, and never echoed back.
        const secret = await failure(cp.tokens.get(issued.token))
        expect(secret.exitCode).toBe(2)
        expect(secret.message).not.toContain(issued.token)
      })
    })

    describe('providers', () => {
      it('add, list, get, update, test and remove a provider; the key is never returned', async () => {
        const name = unique('prov')
        const key = 'sk-contract-test-0123456789abcdefghij'
        const added = await cp.providers.add({ name, kind: 'openai', api_key: key, description: 'main' })
        expect(added).toMatchObject({
          name,
          kind: 'openai',
          base_url: 'https://api.openai.com/v1',
          description: 'main',
          last_test: null,
        })
        expect(added.key_mask).toMatch(/^sk-c…/)
        expect(await cp.providers.get(name)).toEqual(added)
        expect((await cp.providers.list()).find((p) => p.id === added.id)).toEqual(added)
        const updated = await cp.providers.update(name, { description: 'backup' })
        expect(updated).toMatchObject({ id: added.id, description: 'backup', key_mask: added.key_mask })
        for (const value of [added, updated, await cp.providers.list()])
          expect(JSON.stringify(value)).not.toContain(key)
        const removed = await cp.providers.remove(name)
        expect(removed.id).toBe(added.id)
        expect((await failure(cp.providers.get(name))).exitCode).toBe(3)
      })

      it('a mock provider tests ok without a network, and the test is remembered', async () => {
        const name = unique('mock')
        await cp.providers.add({ name, kind: 'mock' })
        const result = await cp.providers.test(name)
        expect(result).toMatchObject({ provider: name, ok: true, status: 200 })
        expect((await cp.providers.get(name)).last_test).toMatchObject({ ok: true, note: result.note })
        await cp.providers.remove(name)
      })

      it('a taken name and an unknown kind are refused', async () => {
        const name = unique('prov')
        await cp.providers.add({ name, kind: 'mock' })
        expect(shape(await failure(cp.providers.add({ name, kind: 'mock' })))).toMatchObject({
          code: 'NAME_TAKEN',
          exitCode: 1,
        })
        const kind = await failure(
          cp.providers.add({ name: unique('prov'), kind: 'carrier-pigeon' as 'mock' }),
        )
        expect(kind.exitCode).toBe(2)
        await cp.providers.remove(name)
      })
    })

    describe('budgets', () => {
      it('set, get, list and check a budget', async () => {
        const name = unique('bud')
        const agent = await cp.agents.create({ name })
        const set = await cp.budgets.set(name, {
          limit_micros: 5_000_000,
          period: 'monthly',
          alert_thresholds: [50, 90],
          on_insufficient: 'clamp',
        })
        expect(set).toMatchObject({
          agent_id: agent.id,
          agent_name: name,
          limit_micros: 5_000_000,
          period: 'monthly',
          on_insufficient: 'clamp',
          alert_thresholds: [50, 90],
          spent_micros: 0,
          remaining_micros: 5_000_000,
        })
        expect(await cp.budgets.get(agent.id)).toEqual(set)
        expect((await cp.budgets.list()).find((b) => b.agent_id === agent.id)).toEqual(set)
        const check = await cp.budgets.check(name, { verify: true })
        expect(check).toMatchObject({ budget: set, over: false, burn_rate_micros_per_hour: 0 })
        expect(check.verify?.ok).toBe(true)
      })

      it('spend from a gateway shows in the budget, its history, check and usage', async () => {
        const name = unique('bud')
        const agent = await cp.agents.create({ name })
        await cp.budgets.set(name, { limit_micros: 2_000_000, period: 'monthly' })
        const gateway = gatewayLedger(h.store, agent.id, { holder: `gw:contract:${name}` })
        const lease = gateway.grant(500_000)
        gateway.draw(lease, 300_000, {
          model: 'gpt-4o-mini',
          provider: 'openai',
          input_tokens: 100,
          output_tokens: 50,
        })
        gateway.draw(lease, 200_000, {
          model: 'gpt-4o-mini',
          provider: 'openai',
          input_tokens: 10,
          output_tokens: 5,
        })
        gateway.giveBack(lease)
        const budget = await cp.budgets.get(name)
        expect(budget).toMatchObject({
          spent_micros: 500_000,
          in_flight_micros: 0,
          remaining_micros: 1_500_000,
        })
        const history = await cp.budgets.history(name)
        expect(
          history
            .filter((e) => e.kind === 'commit')
            .map((e) => e.spent_delta_micros)
            .sort(),
        ).toEqual([200_000, 300_000])
        const newest = await cp.budgets.history(name, { limit: 2 })
        expect(newest).toEqual(history.slice(0, 2))
        const usage = await cp.usage.report({ by: 'agent', agent: name })
        expect(usage.rows).toEqual([
          {
            key: name,
            requests: 2,
            input_tokens: 110,
            output_tokens: 55,
            cost_micros: 500_000,
            unpriced_requests: 0,
          },
        ])
        const byModel = await cp.usage.report({ by: 'model', agent: agent.id })
        expect(byModel.rows.map((r) => [r.key, r.cost_micros])).toEqual([['gpt-4o-mini', 500_000]])
      })

      it('adjust moves spend with a reason, recorded in the history; a zero amount is refused', async () => {
        const name = unique('bud')
        await cp.agents.create({ name })
        await cp.budgets.set(name, { limit_micros: 1_000_000 })
        const adjusted = await cp.budgets.adjust(name, {
          amount_micros: 250_000,
          reason: 'refund of a bad batch',
        })
        expect(adjusted.spent_micros).toBe(250_000)
        const [entry] = await cp.budgets.history(name, { limit: 1 })
        expect(entry).toMatchObject({
          kind: 'adjust',
          spent_delta_micros: 250_000,
          note: 'refund of a bad batch',
        })
        expect(
          shape(await failure(cp.budgets.adjust(name, { amount_micros: 0, reason: 'nothing' }))),
        ).toMatchObject({
          code: 'INVALID_MONEY',
          exitCode: 2,
        })
      })

      it('a limit below the spend needs allow_below_spend; check says over', async () => {
        const name = unique('bud')
        await cp.agents.create({ name })
        await cp.budgets.set(name, { limit_micros: 1_000_000 })
        await cp.budgets.adjust(name, { amount_micros: 600_000, reason: 'earlier spend' })
        const below = await failure(cp.budgets.set(name, { limit_micros: 500_000 }))
        expect(below.exitCode).toBe(2)
        const set = await cp.budgets.set(name, { limit_micros: 500_000, allow_below_spend: true })
        expect(set.remaining_micros).toBe(0)
        expect((await cp.budgets.check(name)).over).toBe(true)
      })

      it('the history since a time leaves out what came before', async () => {
        const name = unique('bud')
        await cp.agents.create({ name })
        await cp.budgets.set(name, { limit_micros: 1_000_000 })
        await cp.budgets.adjust(name, { amount_micros: 1, reason: 'first entry' })
        const [first] = await cp.budgets.history(name, { limit: 1 })
        const after = Date.parse(first!.at) + 1
        expect(await cp.budgets.history(name, { since: after })).toEqual([])
        expect((await cp.budgets.history(name, { since: Date.parse(first!.at) })).length).toBe(1)
      })
    })

    describe('pricing', () => {
      it('the bundled catalog is listed, filtered by provider; retired models only on request', async () => {
        const all = await cp.pricing.list()
        expect(all.length).toBeGreaterThan(10)
        const openai = await cp.pricing.list({ provider: 'openai' })
        expect(openai.length).toBeGreaterThan(0)
        expect(openai.every((p) => p.provider === 'openai')).toBe(true)
        const withRetired = await cp.pricing.list({ include_retired: true })
        expect(withRetired.length).toBeGreaterThan(all.length)
        expect(await cp.pricing.get('gpt-4o-mini')).toEqual(all.find((p) => p.model === 'gpt-4o-mini'))
      })

      it('set and unset an override', async () => {
        const model = unique('contract-model')
        const set = await cp.pricing.set({
          model,
          provider: 'openai',
          input_micros_per_mtok: 1_000_000,
          output_micros_per_mtok: 2_000_000,
        })
        expect(set).toMatchObject({
          model,
          source: 'override',
          input_micros_per_mtok: 1_000_000,
          status: 'active',
        })
        expect(await cp.pricing.get(model)).toEqual(set)
        expect(await cp.pricing.unset(model)).toEqual({ model, removed: true, now: null })
        expect((await failure(cp.pricing.get(model))).exitCode).toBe(3)
        expect(shape(await failure(cp.pricing.unset(model)))).toMatchObject({
          code: 'PRICE_OVERRIDE_NOT_FOUND',
          exitCode: 3,
        })
      })

      it('a negative price is refused', async () => {
        const error = await failure(
          cp.pricing.set({ model: unique('bad-model'), provider: 'openai', input_micros_per_mtok: -1 }),
        )
        expect(error.exitCode).toBe(2)
      })
    })

    describe('usage', () => {
      it('times go through as the same instants: the report says the range it covered', async () => {
        const since = Date.parse('2026-01-02T03:04:05.678Z')
        const until = Date.parse('2026-01-03T00:00:00.001Z')
        const report = await cp.usage.report({ by: 'day', since, until })
        expect(report).toMatchObject({
          by: 'day',
          since: '2026-01-02T03:04:05.678Z',
          until: '2026-01-03T00:00:00.001Z',
        })
      })

      it('a range that holds no request reports zero', async () => {
        const name = unique('use')
        const agent = await cp.agents.create({ name })
        const gateway = gatewayLedger(h.store, agent.id, { holder: `gw:contract:${name}` })
        await cp.budgets.set(name, { limit_micros: 1_000_000 })
        const lease = gateway.grant(1_000)
        gateway.draw(lease, 1_000, {
          model: 'gpt-4o-mini',
          provider: 'openai',
          input_tokens: 1,
          output_tokens: 1,
        })
        gateway.giveBack(lease)
        const future = Date.now() + 86_400_000
        const report = await cp.usage.report({ by: 'agent', agent: name, since: future })
        expect(report.total).toMatchObject({ requests: 0, cost_micros: 0 })
        const now = await cp.usage.report({ by: 'agent', agent: name })
        expect(now.total).toMatchObject({ requests: 1, cost_micros: 1_000 })
      })

      it('an unknown grouping and an empty range are usage errors', async () => {
        expect((await failure(cp.usage.report({ by: 'weather' as 'day' }))).exitCode).toBe(2)
        const error = await failure(cp.usage.report({ since: 2_000_000_000_000, until: 1_000_000_000_000 }))
        expect(shape(error)).toMatchObject({ code: 'INVALID_RANGE', exitCode: 2 })
      })
    })

    describe('audit', () => {
      it('a change is audited with the caller as actor and the agent by name', async () => {
        const name = unique('aud')
        const agent = await cp.agents.create({ name })
        const page = await cp.audit.list({ agent: name })
        expect(page.next_cursor).toBeNull()
        expect(page.events).toHaveLength(1)
        expect(page.events[0]).toMatchObject({
          actor: h.actor,
          action: 'agent.create',
          agent_id: agent.id,
          agent_name: name,
          outcome: 'success',
        })
        const event = page.events[0]!
        expect(await cp.audit.get(event.id)).toEqual(event)
        expect(await cp.audit.get(String(event.seq))).toEqual(event)
        expect(await cp.audit.count({ agent: name })).toBe(1)
      })

      it('pages follow the cursor, newest first, to the same events as one large page', async () => {
        const name = unique('aud')
        await cp.agents.create({ name })
        for (let i = 0; i < 6; i++) await cp.agents.update(name, { description: `change ${i}` })
        const whole = await cp.audit.list({ agent: name, limit: 1_000 })
        expect(whole.events).toHaveLength(7)
        expect(whole.events.map((e) => e.seq)).toEqual(
          [...whole.events.map((e) => e.seq)].sort((a, b) => b - a),
        )
        const paged: AuditEvent[] = []
        let cursor: string | undefined
        do {
          const page = await cp.audit.list({ agent: name, limit: 3, cursor })
          expect(page.events.length).toBeLessThanOrEqual(3)
          paged.push(...page.events)
          cursor = page.next_cursor ?? undefined
        } while (cursor)
        expect(paged).toEqual(whole.events)
        expect(await cp.audit.count({ agent: name, action: 'agent.update' })).toBe(6)
        expect((await cp.audit.list({ agent: name, action: 'agent.create' })).events).toHaveLength(1)
      })

      it('stream gives the events after a sequence number in chain order, as the list shows them', async () => {
        const name = unique('aud')
        await cp.agents.create({ name })
        for (let i = 0; i < 3; i++) await cp.agents.update(name, { description: `step ${i}` })
        const listed = (await cp.audit.list({ agent: name })).events.reverse()
        const streamed: AuditEvent[] = []
        for await (const event of cp.audit.stream({ agent: name })) streamed.push(event)
        expect(streamed).toEqual(listed)
        const after: AuditEvent[] = []
        for await (const event of cp.audit.stream({ agent: name, after_seq: listed[1]!.seq }))
          after.push(event)
        expect(after).toEqual(listed.slice(2))
      })

      it('time filters take the same instants', async () => {
        const name = unique('aud')
        await cp.agents.create({ name })
        const [event] = (await cp.audit.list({ agent: name })).events
        const at = Date.parse(event!.at)
        expect((await cp.audit.list({ agent: name, since: at })).events).toHaveLength(1)
        expect((await cp.audit.list({ agent: name, since: at + 1 })).events).toHaveLength(0)
        expect((await cp.audit.list({ agent: name, until: at })).events).toHaveLength(0)
        expect(await cp.audit.count({ agent: name, until: at + 1 })).toBe(1)
      })

      it('an unknown event is not found; a bad cursor is a usage error', async () => {
        expect((await failure(cp.audit.get('999999999'))).exitCode).toBe(3)
        expect((await failure(cp.audit.get('aud_00000000000000000000000000'))).exitCode).toBe(3)
        expect((await failure(cp.audit.list({ cursor: 'not-a-cursor' }))).exitCode).toBe(2)
      })

      it('verify proves the chain and hands a witness that a later verify checks', async () => {
        const first = await cp.audit.verify()
        expect(first).toMatchObject({ ok: true, first_broken: null, problems: [] })
        expect(first.witness).toBe(`${first.head!.seq}:${first.head!.hash}`)
        const again = await cp.audit.verify({ expect_head: first.witness! })
        expect(again.ok).toBe(true)
        expect(again.expected_head).toEqual({ ...first.head, ok: true })
        const wrong = await cp.audit.verify({ expect_head: `${first.head!.seq}:${'0'.repeat(64)}` })
        expect(wrong.ok).toBe(false)
        expect(wrong.expected_head?.ok).toBe(false)
      })
    })

    describe('safety', () => {
      it('the policy is shown, for the default and for an agent with its own changes', async () => {
        const view = await cp.safety.getPolicy()
        expect(view.agent).toBeNull()
        expect(view.policy.input.email).toBeDefined()
        const name = unique('safe')
        await cp.agents.create({ name, safety_policy: { input: { email: 'block' } } })
        const agentView = await cp.safety.getPolicy({ agent: name })
        expect(agentView).toMatchObject({ agent: name, agent_policy: { input: { email: 'block' } } })
        expect(agentView.policy.input.email).toBe('block')
      })

      it('scan finds and redacts, for the default and with an agent’s policy', async () => {
        const text = 'write to jane.doe@example.com please'
        const scan = await cp.safety.scan({ text, direction: 'output' })
        expect(scan).toMatchObject({
          direction: 'output',
          agent: null,
          bytes: Buffer.byteLength(text),
          error: null,
        })
        expect(scan.findings.map((f) => f.category)).toContain('email')
        expect(JSON.stringify(scan.findings)).not.toContain('jane.doe@example.com')
        const name = unique('safe')
        await cp.agents.create({ name, safety_policy: { input: { email: 'block' } } })
        const blocked = await cp.safety.scan({ text, agent: name })
        expect(blocked.blocked).toContain('email')
        expect((await failure(cp.safety.scan({ text, direction: 'sideways' as 'input' }))).exitCode).toBe(2)
      })

      it('setDefault merges a change or replaces the default; a bad policy is refused', async () => {
        const merged = await cp.safety.setDefault({ output: { phone: 'block' } })
        expect(merged.store_default).toMatchObject({ output: { phone: 'block' } })
        expect(merged.policy.output.phone).toBe('block')
        expect((await cp.safety.getPolicy()).store_default).toEqual(merged.store_default)
        expect((await failure(cp.safety.setDefault({ output: { phone: 'explode' } }))).exitCode).toBe(2)
        const cleared = await cp.safety.setDefault({}, { replace: true })
        expect(cleared.store_default).toEqual({})
      })
    })

    describe('budget requests', () => {
      it('a request is pending until approved, which sets the limit it asked for', async () => {
        const name = unique('breq')
        const agent = await cp.agents.create({ name })
        await cp.budgets.set(name, { limit_micros: 1_000_000 })
        const request = await cp.budgetRequests.create(name, {
          limit_micros: 3_000_000,
          reason: 'holiday traffic',
        })
        expect(request).toMatchObject({
          agent_id: agent.id,
          agent_name: name,
          requested_by: h.actor,
          limit_micros: 3_000_000,
          previous_limit_micros: 1_000_000,
          reason: 'holiday traffic',
          status: 'pending',
          decided_by: null,
        })
        expect(request.id).toMatch(/^breq_/)
        expect(await cp.budgetRequests.get(request.id)).toEqual(request)
        expect(await cp.budgetRequests.list({ agent: name })).toEqual([request])
        expect((await cp.budgetRequests.list({ status: 'pending' })).map((r) => r.id)).toContain(request.id)
        const second = await failure(
          cp.budgetRequests.create(name, { limit_micros: 4_000_000, reason: 'more' }),
        )
        expect(shape(second)).toMatchObject({ code: 'BUDGET_REQUEST_PENDING' })
        const approved = await cp.budgetRequests.approve(request.id, { note: 'ok for December' })
        expect(approved).toMatchObject({
          id: request.id,
          status: 'approved',
          decided_by: h.actor,
          decision_note: 'ok for December',
        })
        expect((await cp.budgets.get(name)).limit_micros).toBe(3_000_000)
        const again = await failure(cp.budgetRequests.approve(request.id))
        expect(shape(again)).toMatchObject({ code: 'BUDGET_REQUEST_DECIDED', exitCode: 1 })
        expect((await cp.budgetRequests.list({ agent: name, status: 'pending' })).length).toBe(0)
      })

      it('a request can be rejected or cancelled once; the limit stays', async () => {
        const name = unique('breq')
        await cp.agents.create({ name })
        await cp.budgets.set(name, { limit_micros: 500_000 })
        const asked = await cp.budgetRequests.create(name, { limit_micros: null, reason: 'no limit please' })
        expect(asked.limit_micros).toBeNull()
        const rejected = await cp.budgetRequests.reject(asked.id, { note: 'no' })
        expect(rejected).toMatchObject({ status: 'rejected', decision_note: 'no' })
        const withdrawn = await cp.budgetRequests.create(name, {
          limit_micros: 600_000,
          reason: 'a little more',
        })
        expect((await cp.budgetRequests.cancel(withdrawn.id)).status).toBe('cancelled')
        expect(shape(await failure(cp.budgetRequests.cancel(withdrawn.id)))).toMatchObject({
          code: 'BUDGET_REQUEST_DECIDED',
        })
        expect((await cp.budgets.get(name)).limit_micros).toBe(500_000)
        const listed = await cp.budgetRequests.list({ agent: name })
        expect(listed.map((r) => r.status).sort()).toEqual(['cancelled', 'rejected'])
      })

      it('an unknown request is not found; a reason is required', async () => {
        const missing = await failure(cp.budgetRequests.get('breq_00000000000000000000000000'))
        expect(shape(missing)).toMatchObject({ code: 'BUDGET_REQUEST_NOT_FOUND', exitCode: 3 })
        const name = unique('breq')
        await cp.agents.create({ name })
        expect(
          (await failure(cp.budgetRequests.create(name, { limit_micros: 1, reason: '' }))).exitCode,
        ).toBe(2)
      })
    })

    describe('users', () => {
      it('create, get, list, update, suspend, activate, reset the password and delete a user', async () => {
        const name = unique('user')
        const user = await cp.users.create({
          name,
          role: 'user',
          display_name: 'Ada L.',
          email: 'ada@example.com',
          password: 'a long enough password',
        })
        expect(user).toMatchObject({
          name,
          role: 'user',
          display_name: 'Ada L.',
          email: 'ada@example.com',
          status: 'active',
          has_password: true,
          locked_until: null,
          deleted_at: null,
        })
        expect(user.id).toMatch(/^user_/)
        expect(JSON.stringify(user)).not.toContain('a long enough password')
        expect(await cp.users.get(name)).toEqual(user)
        expect(await cp.users.get(user.id)).toEqual(user)
        expect((await cp.users.list()).find((u) => u.id === user.id)).toEqual(user)
        const updated = await cp.users.update(name, { role: 'viewer', display_name: 'Ada' })
        expect(updated).toMatchObject({
          id: user.id,
          role: 'viewer',
          display_name: 'Ada',
          email: 'ada@example.com',
        })
        expect((await cp.users.suspend(name)).status).toBe('suspended')
        expect((await cp.users.activate(name)).status).toBe('active')
        expect((await cp.users.resetPassword(name, 'another long password')).has_password).toBe(true)
        const deleted = await cp.users.delete(name)
        expect(deleted).toMatchObject({ id: user.id, status: 'deleted' })
        expect((await cp.users.list()).map((u) => u.id)).not.toContain(user.id)
        expect((await cp.users.list({ include_deleted: true })).map((u) => u.id)).toContain(user.id)
      })

      it('a taken name, a short password and an unknown role are refused; an unknown user is not found', async () => {
        const name = unique('user')
        await cp.users.create({ name, password: 'a long enough password' })
        expect(shape(await failure(cp.users.create({ name })))).toMatchObject({
          code: 'USER_NAME_TAKEN',
          exitCode: 1,
        })
        expect((await failure(cp.users.create({ name: unique('user'), password: 'short' }))).exitCode).toBe(2)
        // A value outside an enum: the server's schema may refuse it before the service does (a usage error either way).
        expect(
          (await failure(cp.users.create({ name: unique('user'), role: 'owner' as 'admin' }))).exitCode,
        ).toBe(2)
        expect(shape(await failure(cp.users.get('nobody-at-all')))).toMatchObject({
          code: 'USER_NOT_FOUND',
          exitCode: 3,
        })
      })
    })

    describe('API tokens', () => {
      it('create shows the secret once; list, get and revoke see only its prefix', async () => {
        const user = unique('tokuser')
        await cp.users.create({ name: user, role: 'user', password: 'a long enough password' })
        const issued = await cp.apiTokens.create({
          name: 'ci deploy',
          user,
          role: 'viewer',
          expires_in_ms: 86_400_000,
        })
        expect(issued).toMatchObject({ user_name: user, name: 'ci deploy', role: 'viewer', status: 'live' })
        expect(issued.token).toMatch(/^iron_at_[0-9A-Za-z]{38}$/)
        expect(issued.token.startsWith(issued.prefix)).toBe(true)
        expect(Date.parse(issued.expires_at!) - Date.parse(issued.created_at)).toBe(86_400_000)
        const { token: _secret, ...summary } = issued
        expect(await cp.apiTokens.get(issued.id)).toEqual(summary)
        expect(await cp.apiTokens.list({ user })).toEqual([summary])
        expect(JSON.stringify(await cp.apiTokens.list({ user }))).not.toContain(issued.token)
        const revoked = await cp.apiTokens.revoke(issued.id)
        expect(revoked).toMatchObject({ id: issued.id, status: 'revoked' })
        expect(await cp.apiTokens.list({ user })).toEqual([])
        expect((await cp.apiTokens.list({ user, include_revoked: true })).map((t) => t.id)).toEqual([
          issued.id,
        ])
      })

      it('a token above its user’s role is refused; an unknown token is not found', async () => {
        const user = unique('tokuser')
        await cp.users.create({ name: user, role: 'viewer', password: 'a long enough password' })
        const above = await failure(cp.apiTokens.create({ name: 'too much', user, role: 'admin' }))
        expect(shape(above)).toEqual({
          code: 'ROLE_TOO_HIGH',
          exitCode: 2,
          message: `An API token of ${user} can have at most the viewer role, not admin`,
        })
        expect((await failure(cp.apiTokens.get('at_00000000000000000000000000'))).exitCode).toBe(3)
      })
    })

    describe('whoami', () => {
      it('says who the caller is and with which rights', async () => {
        expect(await cp.whoami()).toMatchObject({ ...h.me, actor: h.actor })
      })
    })

    describe('audit prune (last: it removes events the other tests wrote)', () => {
      it('nothing before a time long past; then the events before now go, and the chain still verifies', async () => {
        const nothing = await failure(cp.audit.prune(Date.parse('2000-01-01T00:00:00Z')))
        expect(shape(nothing)).toMatchObject({ code: 'NOTHING_TO_PRUNE', exitCode: 2 })
        const name = unique('prune')
        await cp.agents.create({ name })
        const [event] = (await cp.audit.list({ agent: name })).events
        const result = await cp.audit.prune(Date.parse(event!.at))
        expect(result.pruned).toBeGreaterThan(0)
        expect(result.through_seq).toBeLessThan(event!.seq)
        const verified = await cp.audit.verify()
        expect(verified.ok).toBe(true)
        expect(verified.pruned).toMatchObject({ through_seq: result.through_seq })
        expect((await failure(cp.audit.get('1'))).exitCode).toBe(3)
        expect(await cp.audit.get(event!.id)).toEqual(event)
      })
    })
  })
}
