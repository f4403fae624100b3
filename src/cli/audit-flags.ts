import { Flags } from '@oclif/core'
import { parseTime } from '../core/time.js'
import type { AuditQuery } from '../services/api.js'

/** The filters every audit command takes. */
export const auditFilterFlags = {
  agent: Flags.string({ description: 'Only events of this agent (name or ID)' }),
  actor: Flags.string({ description: 'Only events by this actor, e.g. local:alice or agent:agent_…' }),
  action: Flags.string({
    description: 'Only this action (agent.create) or family (agent, token, gateway, budget)',
  }),
  outcome: Flags.string({ description: 'Only this outcome', options: ['success', 'failure', 'denied'] }),
  since: Flags.string({ description: 'From (2026-11-01, 2026-11-01T09:00:00Z, 7d)' }),
  until: Flags.string({ description: 'Until, exclusive (same forms)' }),
}

export function auditQuery(flags: {
  agent?: string
  actor?: string
  action?: string
  outcome?: string
  since?: string
  until?: string
}): AuditQuery {
  return {
    agent: flags.agent,
    actor: flags.actor,
    action: flags.action,
    outcome: flags.outcome,
    since: flags.since ? parseTime(flags.since, 'since') : undefined,
    until: flags.until ? parseTime(flags.until, 'until') : undefined,
  }
}
