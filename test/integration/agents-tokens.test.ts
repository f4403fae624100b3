import { describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { isWellFormedSecret } from '../../src/core/secrets.js'
import { tempControlPlane } from '../helpers/control-plane.js'
import { gatewayLedger } from '../helpers/ledger.js'

const rejects = async (promise: Promise<unknown>, code: string, exitCode?: number) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, `expected ${code}`).toBeInstanceOf(IronError)
  expect((error as IronError).code).toBe(code)
  if (exitCode !== undefined) expect((error as IronError).exitCode).toBe(exitCode)
  return error as IronError
}

describe('agents', () => {
  it('creates, lists, shows, updates and suspends agents', async () => {
    const { cp } = await tempControlPlane()
    await cp.providers.add({ name: 'mock', kind: 'mock' })
    const agent = await cp.agents.create({
      name: 'support-bot',
      description: 'answers tickets',
      project: 'helpdesk',
      allowed_providers: ['mock'],
      allowed_models: ['mock-small'],
      requests_per_minute: 60,
    })
    expect(agent).toMatchObject({
      name: 'support-bot',
      status: 'active',
      project: 'helpdesk',
      allowed_providers: ['mock'],
      allowed_models: ['mock-small'],
      rate_limits: { requests_per_minute: 60, tokens_per_minute: null },
      token: null,
    })
    expect(agent.id).toMatch(/^agent_[0-9a-z]{26}$/)
    expect((await cp.agents.get(agent.id)).name).toBe('support-bot')
    expect((await cp.agents.get('support-bot')).id).toBe(agent.id)
    const updated = await cp.agents.update('support-bot', {
      status: 'suspended',
      tokens_per_minute: 10_000,
      project: null,
    })
    expect(updated).toMatchObject({
      status: 'suspended',
      project: null,
      rate_limits: { tokens_per_minute: 10_000 },
    })
    expect((await cp.agents.list()).map((a) => a.name)).toEqual(['support-bot'])
  })

  it('refuses duplicate names, bad names, unknown providers and unknown models', async () => {
    const { cp } = await tempControlPlane()
    await cp.agents.create({ name: 'a1' })
    await rejects(cp.agents.create({ name: 'a1' }), 'NAME_TAKEN', 1)
    await rejects(cp.agents.create({ name: 'has space' }), 'INVALID_NAME', 2)
    await rejects(cp.agents.create({ name: 'agent_x' }), 'INVALID_NAME', 2)
    await rejects(cp.agents.create({ name: 'a2', allowed_providers: ['nope'] }), 'PROVIDER_NOT_FOUND', 3)
    await rejects(cp.agents.create({ name: 'a2', allowed_models: ['gpt-9-ultra'] }), 'UNKNOWN_MODEL', 3)
    await rejects(cp.agents.get('ghost'), 'AGENT_NOT_FOUND', 3)
    await rejects(cp.agents.get('agent_123'), 'INVALID_ID', 2)
    await rejects(cp.agents.create({ name: 'a3', requests_per_minute: 0 }), 'INVALID_RATE_LIMIT', 2)
  })

  it('resolves model aliases to canonical ids', async () => {
    const { cp } = await tempControlPlane()
    const agent = await cp.agents.create({ name: 'a', allowed_models: ['gpt-4o-2024-08-06', 'GPT-4o-mini'] })
    expect(agent.allowed_models).toEqual(['gpt-4o', 'gpt-4o-mini'])
  })

  it('delete refuses while a token is live unless forced, and keeps the history readable', async () => {
    const { cp } = await tempControlPlane()
    const agent = await cp.agents.create({ name: 'doomed' })
    await cp.budgets.set('doomed', { limit_micros: 10_000_000 })
    const token = await cp.tokens.issue('doomed')
    const gw = gatewayLedger(cp, agent.id)
    gw.draw(gw.grant(1_000), 700, { room_micros: 1_000, model: 'mock-small' })
    await rejects(cp.agents.delete('doomed', { force: false }), 'AGENT_HAS_LIVE_TOKEN', 2)
    const deleted = await cp.agents.delete('doomed', { force: true })
    expect(deleted.revoked_token).toBe(token.id)
    expect(deleted.agent.status).toBe('deleted')
    expect(cp.tokens.authenticate(token.token)).toBeUndefined()
    await rejects(cp.agents.get('doomed'), 'AGENT_NOT_FOUND')
    expect((await cp.agents.get(agent.id)).status).toBe('deleted')
    expect((await cp.budgets.get(agent.id)).spent_micros).toBe(700)
    const usage = await cp.usage.report({ by: 'model' })
    expect(usage.total).toMatchObject({ requests: 1, cost_micros: 700 })
    expect((await cp.agents.create({ name: 'doomed' })).id).not.toBe(agent.id)
  })
})

describe('IC tokens', () => {
  it('are issued once in the iron_ic_ format, stored as a hash, one live per agent', async () => {
    const { cp, ctx } = await tempControlPlane()
    await cp.agents.create({ name: 'bot' })
    const issued = await cp.tokens.issue('bot')
    expect(isWellFormedSecret(issued.token, 'ic')).toBe(true)
    expect(issued.prefix).toBe(issued.token.slice(0, 12))
    expect(issued.status).toBe('live')
    const stored = JSON.stringify(ctx.db().prepare('SELECT * FROM ic_tokens').all())
    expect(stored).not.toContain(issued.token)
    expect(JSON.stringify(await cp.tokens.list())).not.toContain(issued.token)
    expect(JSON.stringify(await cp.agents.get('bot'))).not.toContain(issued.token)
    await rejects(cp.tokens.issue('bot'), 'TOKEN_EXISTS', 1)
    expect(cp.tokens.authenticate(issued.token)?.agent.name).toBe('bot')
    const typo = `${issued.token.slice(0, -1)}${issued.token.endsWith('A') ? 'B' : 'A'}`
    expect(cp.tokens.authenticate(typo)).toBeUndefined()
  })

  it('rotate invalidates the old secret at once and keeps budget, spend and period', async () => {
    const { cp } = await tempControlPlane()
    const agent = await cp.agents.create({ name: 'bot' })
    await cp.budgets.set('bot', { limit_micros: 5_000_000, period: 'monthly' })
    const first = await cp.tokens.issue('bot')
    const gw = gatewayLedger(cp, agent.id)
    gw.draw(gw.grant(2_000), 1_500, { room_micros: 2_000 })
    const before = await cp.budgets.get('bot')
    const second = await cp.tokens.rotate('bot')
    expect(second.token).not.toBe(first.token)
    expect(cp.tokens.authenticate(first.token)).toBeUndefined()
    expect(cp.tokens.authenticate(second.token)?.agent.id).toBe(agent.id)
    const after = await cp.budgets.get('bot')
    expect(after).toMatchObject({
      spent_micros: 1_500,
      limit_micros: 5_000_000,
      period_start: before.period_start,
    })
    const all = await cp.tokens.list({ include_revoked: true })
    expect(all.map((t) => [t.status, t.revoke_reason])).toEqual([
      ['revoked', 'rotated'],
      ['live', null],
    ])
  })

  it('expire on their own, independent of budget periods, and can then be reissued', async () => {
    const { cp, clock } = await tempControlPlane()
    await cp.agents.create({ name: 'bot' })
    const token = await cp.tokens.issue('bot', { expires_in_ms: 86_400_000 })
    expect(cp.tokens.authenticate(token.token)?.agent.name).toBe('bot')
    clock.now += 86_400_001
    expect(cp.tokens.authenticate(token.token)).toBeUndefined()
    expect((await cp.tokens.get('bot')).status).toBe('expired')
    const again = await cp.tokens.issue('bot')
    expect(cp.tokens.authenticate(again.token)?.agent.name).toBe('bot')
    await rejects(cp.tokens.issue('bot', { expires_in_ms: -5 }), 'INVALID_EXPIRY', 2)
  })

  it('revoke takes effect at once; references by ID, agent, or a pasted secret are handled', async () => {
    const { cp } = await tempControlPlane()
    await cp.agents.create({ name: 'bot' })
    const token = await cp.tokens.issue('bot')
    await rejects(cp.tokens.revoke(token.token), 'SECRET_AS_REFERENCE', 2)
    const revoked = await cp.tokens.revoke(token.id)
    expect(revoked.status).toBe('revoked')
    expect(cp.tokens.authenticate(token.token)).toBeUndefined()
    await rejects(cp.tokens.revoke('bot'), 'TOKEN_NOT_FOUND', 3)
    await rejects(cp.tokens.rotate('bot'), 'TOKEN_NOT_FOUND', 3)
    await rejects(cp.tokens.get('ic_zz'), 'INVALID_ID', 2)
  })
})
