import { ExitCode, IronError, notFound } from '../core/errors.js'
import type { UserRole } from './api.js'
import { currentPrincipal, type Principal } from './principal.js'

/**
 * Who may call what, in team mode. Without a principal (commands on the local store) everything is allowed:
 * the OS user who can open the store owns it. With one (a request to `iron serve`), each service method
 * checks its row here first, then the services limit users and viewers to their own resources: their
 * agents (and those agents' tokens, budgets, usage and audit events), their API tokens, themselves.
 */

/** Roles from least to most: each may do what the ones before it may. */
export const ROLE_RANK: Record<UserRole, number> = { viewer: 0, user: 1, admin: 2 }

export const isRole = (value: unknown): value is UserRole =>
  typeof value === 'string' && Object.hasOwn(ROLE_RANK, value)

/** The narrower of two roles (an API token acts with at most its user's role). */
export const narrowerRole = (a: UserRole, b: UserRole): UserRole => (ROLE_RANK[a] <= ROLE_RANK[b] ? a : b)

export interface Rule {
  /** The least role that may call it. */
  role: UserRole
  /** `own`: below admin, only on the caller's own resources; `shared`: nobody's (prices, providers, policy). */
  scope: 'own' | 'shared'
  /** What the call does, for the message of a refusal. */
  what: string
}

const viewerOwn = (what: string): Rule => ({ role: 'viewer', scope: 'own', what })
const userOwn = (what: string): Rule => ({ role: 'user', scope: 'own', what })
const admin = (what: string): Rule => ({ role: 'admin', scope: 'shared', what })

/** Every control-plane method, by `service.method`, and who may call it. */
export const RULES = {
  'agents.create': userOwn('Creating an agent'),
  'agents.list': viewerOwn('Listing agents'),
  'agents.get': viewerOwn('Reading an agent'),
  'agents.update': userOwn('Changing an agent'),
  'agents.delete': userOwn('Deleting an agent'),

  'tokens.issue': userOwn('Issuing an IC token'),
  'tokens.list': viewerOwn('Listing IC tokens'),
  'tokens.get': viewerOwn('Reading an IC token'),
  'tokens.rotate': userOwn('Rotating an IC token'),
  'tokens.revoke': userOwn('Revoking an IC token'),

  'providers.add': admin('Adding a provider'),
  'providers.list': { role: 'user', scope: 'shared', what: 'Listing providers' },
  'providers.get': { role: 'user', scope: 'shared', what: 'Reading a provider' },
  'providers.update': admin('Changing a provider'),
  'providers.remove': admin('Removing a provider'),
  'providers.test': admin('Testing a provider'),

  'budgets.set': userOwn('Setting a budget'),
  'budgets.get': viewerOwn('Reading a budget'),
  'budgets.list': viewerOwn('Listing budgets'),
  'budgets.check': viewerOwn('Checking a budget'),
  'budgets.history': viewerOwn("Reading a budget's history"),
  'budgets.adjust': admin('Adjusting spend'),

  'budgetRequests.create': userOwn('Requesting a budget change'),
  'budgetRequests.list': viewerOwn('Listing budget requests'),
  'budgetRequests.get': viewerOwn('Reading a budget request'),
  'budgetRequests.approve': admin('Approving a budget request'),
  'budgetRequests.reject': admin('Rejecting a budget request'),
  'budgetRequests.cancel': userOwn('Cancelling a budget request'),

  'pricing.list': { role: 'viewer', scope: 'shared', what: 'Listing prices' },
  'pricing.get': { role: 'viewer', scope: 'shared', what: 'Reading a price' },
  'pricing.set': admin('Setting a price'),
  'pricing.unset': admin('Removing a price override'),

  'usage.report': viewerOwn('Reading usage'),

  'audit.list': viewerOwn('Reading the audit trail'),
  'audit.get': viewerOwn('Reading an audit event'),
  'audit.stream': viewerOwn('Exporting the audit trail'),
  'audit.count': viewerOwn('Counting audit events'),
  'audit.verify': admin('Verifying the audit chain'),
  'audit.prune': admin('Pruning the audit trail'),

  'safety.getPolicy': { role: 'viewer', scope: 'shared', what: 'Reading the safety policy' },
  'safety.setDefault': admin('Changing the safety policy'),
  'safety.scan': { role: 'user', scope: 'shared', what: 'Scanning text' },

  'users.create': admin('Creating a user'),
  'users.list': admin('Listing users'),
  'users.get': viewerOwn('Reading a user'),
  'users.update': admin('Changing a user'),
  'users.suspend': admin('Suspending a user'),
  'users.activate': admin('Activating a user'),
  'users.delete': admin('Deleting a user'),
  'users.resetPassword': admin("Resetting a user's password"),

  'apiTokens.create': viewerOwn('Creating an API token'),
  'apiTokens.list': viewerOwn('Listing API tokens'),
  'apiTokens.get': viewerOwn('Reading an API token'),
  'apiTokens.revoke': viewerOwn('Revoking an API token'),

  whoami: viewerOwn('Asking who you are'),
} as const satisfies Record<string, Rule>

export type ServiceMethod = keyof typeof RULES

/** Whether a role may call a method at all (ownership aside): for the server's authorization matrix. */
export const allowed = (method: ServiceMethod, role: UserRole): boolean =>
  ROLE_RANK[role] >= ROLE_RANK[RULES[method].role]

/** A forbidden action: 403 on a server, exit 4; the message names the role it needs. */
export const forbidden = (message: string, hint?: string, details?: Record<string, unknown>) =>
  new IronError('FORBIDDEN', message, { hint, exitCode: ExitCode.auth, details })

/**
 * The check every method makes first: throws FORBIDDEN when the caller's role is below the method's.
 * Returns the principal (undefined on the local store: every right).
 */
export function authorize(method: ServiceMethod, principal = currentPrincipal()): Principal | undefined {
  if (!principal) return undefined
  const rule: Rule = RULES[method]
  if (ROLE_RANK[principal.role] >= ROLE_RANK[rule.role]) return principal
  const own = rule.scope === 'own' && rule.role !== 'admin' ? ' (on your own resources)' : ''
  throw forbidden(
    `${rule.what} needs the ${rule.role} role${own}; you have the ${principal.role} role`,
    rule.role === 'admin' ? 'Ask an admin to do it' : 'Ask an admin to change your role',
    { required_role: rule.role, role: principal.role },
  )
}

/** Admins, and the local store's owner (no principal). */
export const isAdmin = (principal: Principal | undefined = currentPrincipal()): boolean =>
  principal === undefined || principal.role === 'admin'

/**
 * Whose resources a call may see: undefined for everyone's (admins, the local store), else the user's ID
 * (null for a principal without a user, which owns nothing).
 */
export function ownerScope(principal: Principal | undefined = currentPrincipal()): string | null | undefined {
  return isAdmin(principal) ? undefined : principal!.user_id
}

export const ownsAgent = (principal: Principal, agent: { owner_id: string | null }): boolean =>
  principal.user_id !== null && agent.owner_id === principal.user_id

/** Whether the caller may see the agent (and its tokens, budget, usage, audit): admins, and its owner. */
export const mayRead = (agent: { owner_id: string | null }, principal = currentPrincipal()): boolean =>
  isAdmin(principal) || ownsAgent(principal!, agent)

/** Another user's agent is not there for a user or viewer (no existence leak): the same 404 as a missing one. */
export const hiddenAgent = (ref: string) =>
  notFound('AGENT_NOT_FOUND', `No agent '${ref.trim()}'`, 'List agents with: iron agents list')
