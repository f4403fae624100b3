import { BUNDLED_PRICES } from '../../pricing/index.js'
import { AgentsRepo } from '../../store/agents.js'
import { AuditRepo } from '../../store/audit.js'
import { BudgetRequestsRepo } from '../../store/budget-requests.js'
import { HoldersRepo } from '../../store/holders.js'
import { LedgerRepo } from '../../store/ledger.js'
import { PricesRepo } from '../../store/prices.js'
import { ProvidersRepo } from '../../store/providers.js'
import { TokensRepo } from '../../store/tokens.js'
import { ApiTokensRepo, RateLimitsRepo, SessionsRepo, UsersRepo } from '../../store/users.js'
import type { ControlPlane } from '../api.js'
import type { LocalContext } from '../context.js'
import { LocalAgents } from './agents.js'
import { LocalApiTokens } from './api-tokens.js'
import { LocalAudit } from './audit.js'
import { LocalAuth } from './auth.js'
import { LocalBudgetRequests } from './budget-requests.js'
import { LocalBudgets } from './budgets.js'
import { LocalHolders } from './holders.js'
import { LocalPricing } from './pricing.js'
import { LocalProviders } from './providers.js'
import { RemoteLeases } from './remote-leases.js'
import { LocalSafety } from './safety.js'
import { recoverSettlements } from './settlements.js'
import { LocalTokens } from './tokens.js'
import { LocalUsage } from './usage.js'
import { LocalUsers } from './users.js'

/** The control plane on the local store. The gateway also uses the extra, in-process-only methods. */
export interface LocalControlPlane extends ControlPlane {
  audit: LocalAudit
  safety: LocalSafety
  agents: LocalAgents
  tokens: LocalTokens
  providers: LocalProviders
  budgets: LocalBudgets
  budgetRequests: LocalBudgetRequests
  pricing: LocalPricing
  usage: LocalUsage
  users: LocalUsers
  apiTokens: LocalApiTokens
  /** Sign-in and bearer secrets for `iron serve`; local only (the server calls it, never a client). */
  auth: LocalAuth
  /** Who holds budget (gateways' heartbeats); local only. */
  holders: LocalHolders
  /** The lease protocol's server side (team gateways borrow budget from `iron serve`); local only. */
  remoteLeases: RemoteLeases
  repos: { agents: AgentsRepo; providers: ProvidersRepo }
}

export function createLocalControlPlane(ctx: LocalContext): LocalControlPlane {
  const db = ctx.db()
  const now = ctx.now
  const agentsRepo = new AgentsRepo(db)
  const tokensRepo = new TokensRepo(db)
  const providersRepo = new ProvidersRepo(db)
  const ledger = new LedgerRepo(db)
  const audit = new LocalAudit(db, new AuditRepo(db), agentsRepo, ctx.actor, () => ctx.masterKey(), now)
  const pricing = new LocalPricing(db, new PricesRepo(db), audit, now)
  const holdersRepo = new HoldersRepo(db)
  const budgets = new LocalBudgets(
    db,
    ledger,
    agentsRepo,
    audit,
    now,
    ctx.config.getString('timezone'),
    holdersRepo,
  )
  const usersRepo = new UsersRepo(db)
  const sessionsRepo = new SessionsRepo(db)
  const apiTokensRepo = new ApiTokensRepo(db)
  const users = new LocalUsers(db, usersRepo, sessionsRepo, apiTokensRepo, audit, now, ctx.actor)
  const auth = new LocalAuth(db, usersRepo, sessionsRepo, apiTokensRepo, new RateLimitsRepo(db), audit, now, {
    sessionTtlMs: Number(ctx.config.get('serve.session_ttl')) * 1_000,
  })
  const mockModels = () => BUNDLED_PRICES.filter((p) => p.provider === 'mock').map((p) => p.model)
  const cp: Omit<LocalControlPlane, 'remoteLeases'> = {
    audit,
    safety: new LocalSafety(db, agentsRepo, audit),
    agents: new LocalAgents(
      db,
      agentsRepo,
      tokensRepo,
      providersRepo,
      budgets,
      audit,
      (m) => pricing.canonical(m),
      now,
      () => pricing.table(),
      usersRepo,
    ),
    tokens: new LocalTokens(db, tokensRepo, agentsRepo, audit, now),
    providers: new LocalProviders(
      db,
      providersRepo,
      agentsRepo,
      audit,
      () => ctx.masterKey(),
      now,
      mockModels,
    ),
    budgets,
    budgetRequests: new LocalBudgetRequests(
      db,
      new BudgetRequestsRepo(db),
      agentsRepo,
      ledger,
      budgets,
      audit,
      now,
    ),
    pricing,
    usage: new LocalUsage(db, agentsRepo),
    users,
    apiTokens: new LocalApiTokens(db, apiTokensRepo, usersRepo, audit, now),
    whoami: () => users.whoami(),
    auth,
    holders: new LocalHolders(db, holdersRepo, budgets, now),
    repos: { agents: agentsRepo, providers: providersRepo },
  }
  // What a local gateway that died had answered but not yet written goes to the store first.
  recoverSettlements(ctx.dbPath, cp)
  return Object.assign(cp, { remoteLeases: new RemoteLeases(ctx, cp) })
}
