// Run tokens (iron run): IC tokens of an agent beside its one live long-lived token, alive while their run
// renews them and revoked when it ends; and what a run's requests did, told apart by the token they carried.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import type { IronError } from '../../src/core/errors.js'
import { LocalRuns, RUN_TOKEN_TTL_MS } from '../../src/services/local/runs.js'
import { IRON_APPLICATION_ID, openDb } from '../../src/store/db.js'
import { MIGRATIONS } from '../../src/store/migrations.js'
import { tempControlPlane } from '../helpers/control-plane.js'
import { tempDir } from '../helpers/temp.js'

describe('run tokens', () => {
  it('live beside the agent’s own token, which stays the one live long-lived token', async () => {
    const { cp } = await tempControlPlane()
    await cp.agents.create({ name: 'bot' })
    const own = await cp.tokens.issue('bot')
    const run = await cp.tokens.issueRun('bot', RUN_TOKEN_TTL_MS)
    expect(run.token).toMatch(/^iron_ic_/)
    expect(run.expires_at).not.toBeNull()
    expect(cp.tokens.authenticate(run.token)?.agent.name).toBe('bot')
    expect(cp.tokens.authenticate(own.token)?.agent.name).toBe('bot')
    // The agent's own token is still "the" token: issue refuses, show and rotate find it, not the run's.
    const refused = await cp.tokens.issue('bot').catch((e: unknown) => e)
    expect((refused as IronError).code).toBe('TOKEN_EXISTS')
    expect((await cp.tokens.get('bot')).id).toBe(own.id)
    const rotated = await cp.tokens.rotate('bot')
    expect(cp.tokens.authenticate(own.token)).toBeUndefined()
    expect(cp.tokens.authenticate(run.token)?.token_id).toBe(run.id)
    expect((await cp.agents.get('bot')).token?.id).toBe(rotated.id)
    expect((await cp.tokens.list({ agent: 'bot' })).map((t) => t.id).sort()).toEqual(
      [rotated.id, run.id].sort(),
    )
  })

  it('expire unless renewed, are revoked when their run ends, and lapsed ones are revoked at the next run', async () => {
    const { cp, clock } = await tempControlPlane()
    await cp.agents.create({ name: 'bot' })
    const first = await cp.tokens.issueRun('bot', 60_000)
    clock.now += 50_000
    expect(cp.tokens.renewRun(first.id, 60_000)).toBe(clock.now + 60_000)
    clock.now += 50_000
    expect(cp.tokens.authenticate(first.token)).toBeDefined()
    // A run killed without a word: its token lapses, then the next run of the agent revokes it.
    clock.now += 61_000
    expect(cp.tokens.authenticate(first.token)).toBeUndefined()
    const second = await cp.tokens.issueRun('bot', 60_000)
    expect(await cp.tokens.get(first.id)).toMatchObject({ status: 'revoked', revoke_reason: 'expired' })
    const ended = await cp.tokens.endRun(second.id)
    expect(ended).toMatchObject({ status: 'revoked', revoke_reason: 'run_ended' })
    expect(cp.tokens.authenticate(second.token)).toBeUndefined()
    expect(cp.tokens.renewRun(second.id, 60_000)).toBeNull()
    // Ending twice, or ending an agent's own token through this path, changes nothing.
    expect((await cp.tokens.endRun(second.id)).revoked_at).toBe(ended.revoked_at)
    const own = await cp.tokens.issue('bot')
    expect((await cp.tokens.endRun(own.id)).status).toBe('live')
    expect(cp.tokens.renewRun(own.id, 60_000)).toBeNull()
    const actions = (await cp.audit.list({ agent: 'bot', limit: 50 })).events.map((e) => [
      e.action,
      e.data.kind,
    ])
    expect(actions).toContainEqual(['token.issue', 'run'])
    expect(actions).toContainEqual(['token.revoke', 'run'])
  })

  it('say they are run tokens, and cannot be rotated: they end with their run', async () => {
    const { cp } = await tempControlPlane()
    await cp.agents.create({ name: 'bot' })
    await cp.agents.create({ name: 'solo' })
    const own = await cp.tokens.issue('bot')
    const run = await cp.tokens.issueRun('bot', RUN_TOKEN_TTL_MS)
    const lone = await cp.tokens.issueRun('solo', RUN_TOKEN_TTL_MS)
    expect(run.kind).toBe('run')
    expect(own.kind).toBe('agent')
    expect((await cp.tokens.list({ agent: 'bot' })).map((t) => [t.id, t.kind])).toEqual(
      expect.arrayContaining([
        [own.id, 'agent'],
        [run.id, 'run'],
      ]),
    )
    expect((await cp.tokens.get(run.id)).kind).toBe('run')
    // Beside the agent's own token (where rotating it broke the one-live-token index) and without one
    // (where it made a long-lived token of it): refused, saying why and what to do, and nothing changes.
    for (const token of [run, lone]) {
      const refused = (await cp.tokens.rotate(token.id).catch((e: unknown) => e)) as IronError
      expect(refused).toMatchObject({ code: 'RUN_TOKEN_NOT_ROTATABLE', exitCode: 1 })
      expect(refused.message).toContain(`is a run token of ${token.agent_name}: it ends with its iron run`)
      expect(refused.hint).toContain(`iron tokens revoke ${token.id}`)
      expect(cp.tokens.authenticate(token.token)?.token_id).toBe(token.id)
    }
    expect(cp.tokens.authenticate(own.token)?.token_id).toBe(own.id)
    expect((await cp.tokens.list({ agent: 'solo' })).map((t) => t.kind)).toEqual(['run'])
    // Once its run has ended, the same.
    await cp.tokens.endRun(run.id)
    const ended = (await cp.tokens.rotate(run.id).catch((e: unknown) => e)) as IronError
    expect(ended).toMatchObject({ code: 'RUN_TOKEN_NOT_ROTATABLE' })
    expect(ended.message).toContain('that run has ended')
    // The agent's own token still rotates, by agent or by ID.
    expect((await cp.tokens.rotate('bot')).kind).toBe('agent')
  })

  it('a run as an agent mints a token, or takes the agent’s own and checks it is that agent’s', async () => {
    const { cp, ctx } = await tempControlPlane()
    await cp.agents.create({ name: 'bot' })
    await cp.agents.create({ name: 'other' })
    const own = await cp.tokens.issue('bot')
    const runs = new LocalRuns(ctx.db(), cp.tokens, cp.repos.agents)
    const minted = await runs.begin({ agent: 'bot' })
    expect(minted.token).toMatchObject({ kind: 'run', prefix: minted.token.secret.slice(0, 12) })
    expect(minted.token.secret).not.toBe(own.token)
    expect(await runs.end(minted)).toMatchObject({ requests: 0, spent_micros: 0, token_revoked: true })
    const given = await runs.begin({ secret: own.token })
    expect(given).toMatchObject({ agent: { name: 'bot' }, token: { id: own.id, kind: 'agent' } })
    expect((await runs.end(given)).token_revoked).toBe(false)
    expect(cp.tokens.authenticate(own.token)).toBeDefined()
    const codes = await Promise.all([
      runs.begin({ agent: 'other', secret: own.token }).catch((e: IronError) => e.code),
      runs.begin({ secret: 'iron_ic_not-a-real-token' }).catch((e: IronError) => e.code),
      runs.begin({}).catch((e: IronError) => e.code),
    ])
    expect(codes).toEqual(['TOKEN_AGENT_MISMATCH', 'TOKEN_REJECTED', 'AGENT_REQUIRED'])
  })

  it('a store from before run tokens gets them without losing its tokens or its one-live rule', async () => {
    const path = join(tempDir(), 'old.db')
    const old = new Database(path)
    old.pragma(`application_id = ${IRON_APPLICATION_ID}`)
    for (const m of MIGRATIONS.filter((m) => m.version <= 5)) old.exec(m.sql)
    old.pragma('user_version = 5')
    old.exec(`INSERT INTO agents (id, name, status, created_at, updated_at) VALUES ('agent_a', 'bot', 'active', 0, 0);
      INSERT INTO ic_tokens (id, agent_id, token_hash, prefix, created_at) VALUES ('ic_a', 'agent_a', 'h1', 'iron_ic_aaaa', 0)`)
    old.close()
    const db = openDb(path)
    expect(db.prepare('SELECT kind FROM ic_tokens').pluck().all()).toEqual(['agent'])
    const insert = (id: string, kind: string) =>
      db
        .prepare(
          `INSERT INTO ic_tokens (id, agent_id, token_hash, prefix, created_at, kind) VALUES (?, 'agent_a', ?, 'p', 0, ?)`,
        )
        .run(id, `hash-${id}`, kind)
    expect(() => insert('ic_b', 'agent')).toThrow(/UNIQUE/)
    insert('ic_c', 'run')
    insert('ic_d', 'run')
    expect(() => insert('ic_e', 'other')).toThrow(/CHECK/)
    db.close()
  })
})
