import { IronError, usageError } from '../../core/errors.js'
import { newId } from '../../core/ids.js'
import type { PriceTable } from '../../pricing/lookup.js'
import type { AgentRow, AgentsRepo } from '../../store/agents.js'
import type { Db } from '../../store/db.js'
import type { ProvidersRepo } from '../../store/providers.js'
import type { TokensRepo } from '../../store/tokens.js'
import type { UsersRepo } from '../../store/users.js'
import type { Agent, AgentDeleteResult, AgentInput, AgentsApi, AgentUpdate } from '../api.js'
import { authorize, forbidden, isAdmin, ownerScope } from '../authz.js'
import type { Principal } from '../principal.js'
import { servingProblem } from '../serving.js'
import { changes, type LocalAudit } from './audit.js'
import type { LocalBudgets } from './budgets.js'
import { findAgent, findProvider, iso } from './refs.js'
import { agentPolicyText } from './safety.js'
import { findUser } from './users.js'

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

export function checkName(value: string, what: string, reservedPrefix: string): string {
  const name = value.trim()
  if (!NAME_RE.test(name) || name.toLowerCase().startsWith(reservedPrefix)) {
    throw usageError(
      'INVALID_NAME',
      `Invalid ${what} name '${value}': use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit${
        name.toLowerCase().startsWith(reservedPrefix)
          ? `, and not starting with '${reservedPrefix}' (that is how IDs start)`
          : ''
      }`,
    )
  }
  return name
}

function checkText(value: string | undefined | null, what: string, max: number): string | null {
  if (value === undefined || value === null) return null
  const text = value.trim()
  if (text.length > max) throw usageError('INVALID_TEXT', `${what} is longer than ${max} characters`)
  return text
}

function checkLimit(value: number | null | undefined, what: string): number | null {
  if (value === undefined || value === null) return null
  if (!Number.isSafeInteger(value) || value <= 0 || value > 1_000_000_000) {
    throw usageError(
      'INVALID_RATE_LIMIT',
      `${what} must be a whole number above zero`,
      'Leave it out for no limit',
    )
  }
  return value
}

/** Agents: the unit of control. Each gets a budget row at creation; deleting keeps its history. */
export class LocalAgents implements AgentsApi {
  constructor(
    private readonly db: Db,
    private readonly repo: AgentsRepo,
    private readonly tokens: TokensRepo,
    private readonly providers: ProvidersRepo,
    private readonly budgets: LocalBudgets,
    private readonly audit: LocalAudit,
    /** Canonical model id for a model a person typed; throws when iron has no price for it. */
    private readonly canonicalModel: (model: string) => string,
    private readonly now: () => number,
    /** The price table, to tell which provider serves which model. */
    private readonly prices: () => PriceTable,
    private readonly users: UsersRepo,
  ) {}

  /** Why the agent cannot make the calls it is set up for (no provider serves its models), if it cannot. */
  servingProblem(agent: Pick<Agent, 'name' | 'allowed_providers' | 'allowed_models'>): string | undefined {
    return servingProblem(agent, this.providers.list(), this.prices())
  }

  /**
   * A user's agent is their own, and starts with a $0 limit that they cannot raise: nothing spends until an
   * admin grants a limit (or approves their budget request). An admin's is the team's unless given an owner.
   */
  async create(input: AgentInput): Promise<Agent> {
    const principal = authorize('agents.create')
    const name = checkName(input.name, 'agent', 'agent_')
    this.#checkAdminFields(principal, input)
    const fields = this.#fields(input)
    return this.#tx(() => {
      if (this.repo.byName(name)) throw taken(name)
      const ownerId = isAdmin(principal) ? this.#ownerId(input.owner) : principal!.user_id
      const now = this.now()
      const row: AgentRow = {
        id: newId('agent', now),
        name,
        description: fields.description ?? '',
        project: fields.project ?? null,
        allowed_providers: JSON.stringify(fields.allowed_providers ?? []),
        allowed_models: JSON.stringify(fields.allowed_models ?? []),
        rpm_limit: fields.rpm ?? null,
        tpm_limit: fields.tpm ?? null,
        safety_policy: fields.safety_policy ?? null,
        status: 'active',
        owner_id: ownerId,
        created_at: now,
        updated_at: now,
        deleted_at: null,
      }
      this.repo.insert(row)
      this.budgets.createFor(row.id, now, isAdmin(principal) ? {} : { limit_micros: 0 })
      const agent = this.view(row)
      this.audit.record({
        action: 'agent.create',
        resource_type: 'agent',
        resource_id: row.id,
        agent_id: row.id,
        outcome: 'success',
        data: { after: agent },
      })
      return agent
    })
  }

  async list(options: { include_deleted?: boolean; project?: string } = {}): Promise<Agent[]> {
    const scope = ownerScope(authorize('agents.list'))
    if (scope === null) return []
    return this.repo
      .list({ includeDeleted: options.include_deleted, project: options.project, ownerId: scope })
      .map((row) => this.view(row))
  }

  async get(ref: string): Promise<Agent> {
    authorize('agents.get')
    return this.view(findAgent(this.repo, ref, { includeDeleted: true }))
  }

  async update(ref: string, update: AgentUpdate): Promise<Agent> {
    const principal = authorize('agents.update')
    this.#checkAdminFields(principal, update)
    const fields = this.#fields(update)
    const newName = update.name === undefined ? undefined : checkName(update.name, 'agent', 'agent_')
    if (update.status !== undefined && update.status !== 'active' && update.status !== 'suspended') {
      throw usageError('INVALID_STATUS', `Invalid status '${update.status}'`, 'Use active or suspended')
    }
    return this.#tx(() => {
      const row = findAgent(this.repo, ref)
      if (newName !== undefined && newName !== row.name && this.repo.byName(newName)) throw taken(newName)
      const next: AgentRow = {
        ...row,
        name: newName ?? row.name,
        description: fields.description ?? row.description,
        project: update.project === undefined ? row.project : fields.project,
        allowed_providers: fields.allowed_providers
          ? JSON.stringify(fields.allowed_providers)
          : row.allowed_providers,
        allowed_models: fields.allowed_models ? JSON.stringify(fields.allowed_models) : row.allowed_models,
        rpm_limit: update.requests_per_minute === undefined ? row.rpm_limit : fields.rpm,
        tpm_limit: update.tokens_per_minute === undefined ? row.tpm_limit : fields.tpm,
        safety_policy: update.safety_policy === undefined ? row.safety_policy : fields.safety_policy,
        status: update.status ?? row.status,
        owner_id: update.owner === undefined ? row.owner_id : this.#ownerId(update.owner),
        updated_at: this.now(),
      }
      this.repo.update(next)
      const after = this.view(next)
      const changed = changes(this.view(row), after)
      this.audit.record({
        action:
          next.status !== row.status
            ? next.status === 'suspended'
              ? 'agent.suspend'
              : 'agent.activate'
            : 'agent.update',
        resource_type: 'agent',
        resource_id: row.id,
        agent_id: row.id,
        outcome: 'success',
        data: { changes: changed },
      })
      return after
    })
  }

  async delete(ref: string, options: { force: boolean }): Promise<AgentDeleteResult> {
    authorize('agents.delete')
    return this.#tx(() => {
      const row = findAgent(this.repo, ref)
      const live = this.tokens.unrevoked(row.id)
      const now = this.now()
      if (live && (live.expires_at === null || live.expires_at > now) && !options.force) {
        throw usageError(
          'AGENT_HAS_LIVE_TOKEN',
          `Agent ${row.name} has a live IC token (${live.prefix}…); deleting the agent revokes it, and whatever uses it stops working`,
          'Re-run with --yes to delete it anyway',
        )
      }
      if (live) this.tokens.revoke(live.id, now, 'agent_deleted')
      const before = this.view(row)
      const next: AgentRow = { ...row, status: 'deleted', deleted_at: now, updated_at: now }
      this.repo.update(next)
      this.audit.record({
        action: 'agent.delete',
        resource_type: 'agent',
        resource_id: row.id,
        agent_id: row.id,
        outcome: 'success',
        data: { before, revoked_token: live ? { id: live.id, prefix: live.prefix } : null },
      })
      return { agent: this.view(next), revoked_token: live ? live.id : null }
    })
  }

  view(row: AgentRow): Agent {
    const token = row.deleted_at === null ? this.tokens.unrevoked(row.id) : undefined
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      project: row.project,
      owner: row.owner_id === null ? null : (this.users.byId(row.owner_id)?.name ?? row.owner_id),
      allowed_providers: JSON.parse(row.allowed_providers) as string[],
      allowed_models: JSON.parse(row.allowed_models) as string[],
      rate_limits: { requests_per_minute: row.rpm_limit, tokens_per_minute: row.tpm_limit },
      safety_policy: row.safety_policy ? (JSON.parse(row.safety_policy) as Record<string, unknown>) : null,
      status: row.status,
      created_at: iso(row.created_at)!,
      updated_at: iso(row.updated_at)!,
      deleted_at: iso(row.deleted_at),
      token: token
        ? {
            id: token.id,
            prefix: token.prefix,
            created_at: iso(token.created_at)!,
            expires_at: iso(token.expires_at),
            last_used_at: iso(token.last_used_at),
          }
        : null,
    }
  }

  /**
   * What only an admin chooses: who owns an agent, and an agent's own safety policy (which could turn the
   * team's firewall off for it).
   */
  #checkAdminFields(principal: Principal | undefined, input: Partial<AgentInput>): void {
    if (isAdmin(principal)) return
    if (input.owner !== undefined && input.owner !== principal!.user_name) {
      throw forbidden(
        "Choosing an agent's owner needs the admin role; your agents are your own",
        'Leave the owner out, or ask an admin',
      )
    }
    if (input.safety_policy !== undefined && input.safety_policy !== null) {
      throw forbidden(
        "An agent's own safety policy needs the admin role; your agents follow the team's policy",
        'Ask an admin to set it: iron agents update <agent> --safety-policy …',
      )
    }
  }

  /** The owner an admin names: a user that is not deleted, or null for the team's. */
  #ownerId(owner: string | null | undefined): string | null {
    if (owner === undefined || owner === null) return null
    if (typeof owner !== 'string') throw usageError('INVALID_OWNER', 'The owner must be a user name or null')
    return findUser(this.users, owner).id
  }

  #fields(input: Partial<AgentInput>) {
    const allowedProviders = input.allowed_providers?.map((p) => findProvider(this.providers, p).name)
    const allowedModels = input.allowed_models?.map((m) => this.canonicalModel(m))
    const policy = input.safety_policy === undefined ? undefined : agentPolicyText(input.safety_policy)
    return {
      description: checkText(input.description, 'Description', 500),
      project: input.project === null ? null : checkText(input.project, 'Project', 100) || null,
      allowed_providers: allowedProviders ? [...new Set(allowedProviders)] : undefined,
      allowed_models: allowedModels ? [...new Set(allowedModels)] : undefined,
      rpm: checkLimit(input.requests_per_minute, 'Requests per minute'),
      tpm: checkLimit(input.tokens_per_minute, 'Tokens per minute'),
      safety_policy: policy ?? null,
    }
  }

  #tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }
}

const taken = (name: string) =>
  new IronError('NAME_TAKEN', `An agent named '${name}' already exists`, {
    hint: 'Choose another name, or change that agent with: iron agents update',
  })
