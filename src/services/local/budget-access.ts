import { ExitCode, IronError, notFound } from '../../core/errors.js'
import { currentPrincipal, type Principal } from '../principal.js'

/**
 * The role rules of budgets and budget requests (team mode). Without a principal (commands on the local
 * store) everything is allowed: the OS user who can open the store owns it.
 */

/** A forbidden action: 403 on a server, exit 4; the message names the role it needs. */
export const forbidden = (message: string, hint?: string, details?: Record<string, unknown>) =>
  new IronError('FORBIDDEN', message, { hint, exitCode: ExitCode.auth, details })

/** Admins, and the local store's owner (no principal). */
export const isAdmin = (principal: Principal | undefined = currentPrincipal()): boolean =>
  principal === undefined || principal.role === 'admin'

export const ownsAgent = (principal: Principal, agent: { owner_id: string | null }): boolean =>
  principal.user_id !== null && agent.owner_id === principal.user_id

/** Whether the caller may read the agent's budget and requests: admins, and the agent's owner. */
export const mayRead = (agent: { owner_id: string | null }, principal = currentPrincipal()): boolean =>
  isAdmin(principal) || ownsAgent(principal!, agent)

/** Another user's agent is not there for a user or viewer (no existence leak): the same 404 as a missing one. */
export const hiddenAgent = (ref: string) =>
  notFound('AGENT_NOT_FOUND', `No agent '${ref}'`, 'List agents with: iron agents list')
