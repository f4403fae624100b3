import { IronError, notFound, usageError } from '../../core/errors.js'
import { looksLikeId, newId, parseId } from '../../core/ids.js'
import { displayPrefix, hashesEqual, hashSecret, isWellFormedSecret, newSecret } from '../../core/secrets.js'
import type { AgentRow, AgentsRepo } from '../../store/agents.js'
import type { Db } from '../../store/db.js'
import type { TokensRepo, TokenWithAgent } from '../../store/tokens.js'
import type { IcToken, IssuedToken, TokensApi } from '../api.js'
import { authorize, mayRead, ownerScope } from '../authz.js'
import type { LocalAudit } from './audit.js'
import { findAgent, iso } from './refs.js'

const MAX_EXPIRY_MS = 10 * 365 * 86_400_000

/** Who an IC token belongs to, for the gateway. */
export interface Authenticated {
  token_id: string
  expires_at: number | null
  agent: AgentRow
}

/**
 * IC tokens: one live token per agent, shown once, stored as SHA-256 and a display prefix.
 * Rotation replaces the secret at once and leaves the agent's budget, spend and period untouched.
 */
export class LocalTokens implements TokensApi {
  constructor(
    private readonly db: Db,
    private readonly repo: TokensRepo,
    private readonly agents: AgentsRepo,
    private readonly audit: LocalAudit,
    private readonly now: () => number,
  ) {}

  async issue(agentRef: string, options: { expires_in_ms?: number } = {}): Promise<IssuedToken> {
    authorize('tokens.issue')
    const expiresIn = checkExpiry(options.expires_in_ms)
    return this.#tx(() => {
      const agent = findAgent(this.agents, agentRef)
      const now = this.now()
      const current = this.repo.unrevoked(agent.id)
      if (current && !isExpired(current, now)) {
        throw new IronError(
          'TOKEN_EXISTS',
          `Agent ${agent.name} already has a live IC token (${current.prefix}…)`,
          {
            hint: `Replace it with: iron tokens rotate ${agent.name}`,
          },
        )
      }
      if (current) this.repo.revoke(current.id, now, 'expired')
      const issued = this.#mint(agent, now, expiresIn)
      this.#record('token.issue', issued, { replaced_expired: current ? current.id : null })
      return issued
    })
  }

  /** Replace a token, named by its ID (`ic_…`) or by its agent, as `revoke` takes it. */
  async rotate(ref: string, options: { expires_in_ms?: number } = {}): Promise<IssuedToken> {
    authorize('tokens.rotate')
    const expiresIn = checkExpiry(options.expires_in_ms)
    return this.#tx(() => {
      const current = this.#find(ref, 'rotate')
      const agent = this.agents.byId(current.agent_id)!
      const now = this.now()
      this.repo.revoke(current.id, now, 'rotated')
      const keepExpiry = current.expires_at === null ? undefined : current.expires_at - current.created_at
      const issued = this.#mint(agent, now, expiresIn ?? keepExpiry)
      this.#record('token.rotate', issued, { replaced: { id: current.id, prefix: current.prefix } })
      return issued
    })
  }

  async revoke(ref: string): Promise<IcToken> {
    authorize('tokens.revoke')
    return this.#tx(() => {
      const token = this.#find(ref, 'revoke')
      const now = this.now()
      this.repo.revoke(token.id, now, 'revoked')
      const revoked = view({ ...token, revoked_at: now, revoke_reason: 'revoked' }, now)
      this.#record('token.revoke', revoked, {})
      return revoked
    })
  }

  async get(ref: string): Promise<IcToken> {
    authorize('tokens.get')
    return view(this.#find(ref, 'show'), this.now())
  }

  async list(options: { agent?: string; include_revoked?: boolean } = {}): Promise<IcToken[]> {
    const scope = ownerScope(authorize('tokens.list'))
    const agentId = options.agent
      ? findAgent(this.agents, options.agent, { includeDeleted: true }).id
      : undefined
    const now = this.now()
    // A user or viewer sees the tokens of their own agents.
    const own =
      scope === undefined
        ? undefined
        : new Set(
            scope === null ? [] : this.agents.list({ includeDeleted: true, ownerId: scope }).map((a) => a.id),
          )
    return this.repo
      .list({ agentId, includeRevoked: options.include_revoked })
      .filter((t) => own === undefined || own.has(t.agent_id))
      .map((t) => view(t, now))
  }

  /** The gateway's check: a well-formed, known, unrevoked, unexpired token of an agent that exists. */
  authenticate(secret: string): Authenticated | undefined {
    if (!isWellFormedSecret(secret, 'ic')) return undefined
    const hash = hashSecret(secret)
    const token = this.repo.byHash(hash)
    if (!token || !hashesEqual(token.token_hash, hash)) return undefined
    if (token.revoked_at !== null || isExpired(token, this.now())) return undefined
    const agent = this.agents.byId(token.agent_id)
    if (!agent || agent.deleted_at !== null) return undefined
    return { token_id: token.id, expires_at: token.expires_at, agent }
  }

  #mint(agent: AgentRow, now: number, expiresIn: number | undefined): IssuedToken {
    const secret = newSecret('ic')
    const row = {
      id: newId('ic', now),
      agent_id: agent.id,
      token_hash: hashSecret(secret),
      prefix: displayPrefix(secret),
      created_at: now,
      expires_at: expiresIn === undefined ? null : now + expiresIn,
      revoked_at: null,
      revoke_reason: null,
      last_used_at: null,
    }
    this.repo.insert(row)
    return { ...view({ ...row, agent_name: agent.name, kind: 'agent' }, now), token: secret }
  }

  /**
   * A token by its ID (`ic_…`), or an agent's current token by the agent's name or ID. `show` finds revoked
   * tokens and deleted agents' too (the latest when none is live); `rotate` and `revoke` need a live one.
   */
  #find(ref: string, purpose: 'show' | 'rotate' | 'revoke'): TokenWithAgent {
    const trimmed = ref.trim()
    const live = purpose !== 'show'
    if (looksLikeId(trimmed.toLowerCase(), 'ic')) {
      const found = this.repo.byId(parseId(trimmed, 'ic'))
      // Another user's agent's token is not there for a user or viewer, as their agents are not.
      const token =
        found && mayRead(this.agents.byId(found.agent_id) ?? { owner_id: null }) ? found : undefined
      if (!token)
        throw notFound(
          'TOKEN_NOT_FOUND',
          `No IC token ${trimmed}`,
          'List tokens with: iron tokens list --all',
        )
      if (purpose === 'rotate' && token.kind === 'run') throw runTokenNotRotatable(token)
      if (live && token.revoked_at !== null) {
        throw new IronError(
          'TOKEN_REVOKED',
          `Token ${token.prefix}… of ${token.agent_name} is already revoked${purpose === 'rotate' ? ', so there is nothing to rotate' : ''}`,
          { hint: `Issue a new one with: iron tokens issue ${token.agent_name}` },
        )
      }
      return token
    }
    if (trimmed.startsWith('iron_ic_')) {
      throw usageError(
        'SECRET_AS_REFERENCE',
        'That is a token secret, not a reference',
        'Refer to a token by its ID (ic_…) or its agent name; never paste secrets into commands',
      )
    }
    const agent = this.#agentOf(trimmed, !live)
    const token = live
      ? this.repo.unrevoked(agent.id)
      : (this.repo.unrevoked(agent.id) ?? this.repo.latest(agent.id))
    if (!token) {
      throw notFound(
        'TOKEN_NOT_FOUND',
        `Agent ${agent.name} has no ${live ? 'live ' : ''}IC token${purpose === 'show' ? '' : ` to ${purpose}`}`,
        `Issue one with: iron tokens issue ${agent.name}`,
      )
    }
    return token
  }

  /** The agent a token reference names; not finding one says what the reference could have been. */
  #agentOf(ref: string, includeDeleted: boolean): AgentRow {
    try {
      return findAgent(this.agents, ref, { includeDeleted })
    } catch (error) {
      if (!(error instanceof IronError) || !/^No agent /.test(error.message)) throw error
      throw notFound(
        'TOKEN_NOT_FOUND',
        `No IC token or agent '${ref}'`,
        'Give a token ID (ic_…) or an agent name; list them with: iron tokens list --all',
      )
    }
  }

  /** Token events carry the record (ID, prefix, expiry), never the secret. */
  #record(action: string, token: IcToken, extra: Record<string, unknown>): void {
    const { id, agent_id, agent_name, prefix, expires_at } = token
    this.audit.record({
      action,
      resource_type: 'ic_token',
      resource_id: id,
      agent_id,
      outcome: 'success',
      data: { token: { id, agent_name, prefix, expires_at }, ...extra },
    })
  }

  #tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }

  /**
   * A run token, for `iron run`: an IC token of the agent beside its own (which stays the one live
   * long-lived token), given to one run's command. It expires `ttlMs` from now unless the run renews it,
   * and is revoked when the run ends, so a run killed without a word leaves nothing usable for long.
   * Run tokens of the agent that lapsed that way are revoked here.
   */
  async issueRun(agentRef: string, ttlMs: number): Promise<IssuedToken> {
    return this.#tx(() => {
      const agent = findAgent(this.agents, agentRef)
      const now = this.now()
      this.repo.revokeLapsedRuns(agent.id, now)
      const secret = newSecret('ic')
      const row = {
        id: newId('ic', now),
        agent_id: agent.id,
        token_hash: hashSecret(secret),
        prefix: displayPrefix(secret),
        created_at: now,
        expires_at: now + ttlMs,
        revoked_at: null,
        revoke_reason: null,
        last_used_at: null,
      }
      this.repo.insert(row, 'run')
      const issued = { ...view({ ...row, agent_name: agent.name, kind: 'run' }, now), token: secret }
      this.#record('token.issue', issued, { kind: 'run' })
      return issued
    })
  }

  /** Keep a run token alive for `ttlMs` more; null once it was revoked (by its run, or by a person). */
  renewRun(id: string, ttlMs: number): number | null {
    return this.#tx(() => {
      const expiresAt = this.now() + ttlMs
      return this.repo.extendRun(id, expiresAt) ? expiresAt : null
    })
  }

  /** The run ended: its token is revoked (reason `run_ended`); one revoked already is left as it is. */
  async endRun(id: string): Promise<IcToken> {
    return this.#tx(() => {
      const token = this.repo.byId(id)
      if (!token) throw notFound('TOKEN_NOT_FOUND', `No IC token ${id}`)
      const now = this.now()
      if (!this.repo.revokeRun(id, now)) return view(token, now)
      const ended = view({ ...token, revoked_at: now, revoke_reason: 'run_ended' }, now)
      this.#record('token.revoke', ended, { kind: 'run' })
      return ended
    })
  }
}

const isExpired = (token: { expires_at: number | null }, now: number) =>
  token.expires_at !== null && token.expires_at <= now

function checkExpiry(ms: number | undefined): number | undefined {
  if (ms === undefined) return undefined
  if (!Number.isSafeInteger(ms) || ms <= 0 || ms > MAX_EXPIRY_MS) {
    throw usageError(
      'INVALID_EXPIRY',
      'Token expiry must be more than zero and at most 10 years',
      'For example --expires-in 30d',
    )
  }
  return ms
}

/**
 * A run token lives as long as its `iron run`: rotating it would mint a long-lived token beside the agent's
 * own, which the one-live-token rule forbids, and the run would not get the new secret anyway.
 */
function runTokenNotRotatable(token: TokenWithAgent): IronError {
  const live = token.revoked_at === null
  return new IronError(
    'RUN_TOKEN_NOT_ROTATABLE',
    `Token ${token.prefix}… is a run token of ${token.agent_name}: it ends with its iron run${live ? '' : ', and that run has ended'}, so it cannot be rotated`,
    {
      hint: live
        ? `Cut the run off now with: iron tokens revoke ${token.id}; or rotate the agent's own token: iron tokens rotate ${token.agent_name}`
        : `Rotate the agent's own token with: iron tokens rotate ${token.agent_name}`,
    },
  )
}

function view(token: TokenWithAgent, now: number): IcToken {
  return {
    id: token.id,
    agent_id: token.agent_id,
    agent_name: token.agent_name,
    kind: token.kind,
    prefix: token.prefix,
    status: token.revoked_at !== null ? 'revoked' : isExpired(token, now) ? 'expired' : 'live',
    created_at: iso(token.created_at)!,
    expires_at: iso(token.expires_at),
    revoked_at: iso(token.revoked_at),
    revoke_reason: token.revoke_reason,
    last_used_at: iso(token.last_used_at),
  }
}
