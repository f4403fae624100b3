import { z } from 'zod'
import {
  AlertEventSchema,
  type GatewayEvent,
  RequestEventSchema,
  SafetyEventSchema,
} from './gateway-events.js'

/**
 * The events of `iron serve`'s `GET /api/v1/events` (server-sent events): the gateway's own kinds (request,
 * safety, alert: what `iron top` reads from a gateway), derived from the audit trail every gateway on the
 * store writes, plus `audit` for the budget, safety and admin changes people make. Each event's SSE id is the
 * audit sequence number it came from (`Last-Event-ID` or `?since=` resume after it).
 */

/** A change recorded in the audit trail: budget (set, adjust, requests), safety (policy, blocks) or admin. */
export const AuditNoticeSchema = z.object({
  type: z.literal('audit'),
  at: z.iso.datetime(),
  seq: z.number().int(),
  category: z.enum(['budget', 'safety', 'admin']),
  /** `budget.set`, `agent.create`, `user.suspend`, `auth.login`, … */
  action: z.string(),
  actor: z.string(),
  outcome: z.enum(['success', 'failure', 'denied']),
  resource: z.object({ type: z.string(), id: z.string().nullable() }).nullable(),
  agent_id: z.string().nullable(),
  agent: z.string().nullable(),
})

export const ServerEventSchema = z.discriminatedUnion('type', [
  RequestEventSchema,
  SafetyEventSchema,
  AlertEventSchema,
  AuditNoticeSchema,
])

export type AuditNotice = z.infer<typeof AuditNoticeSchema>
export type ServerEvent = GatewayEvent | AuditNotice

/** One event from the `data:` of a server-sent event; undefined when it is not one iron knows. */
export function parseServerEvent(data: string): ServerEvent | undefined {
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return undefined
  }
  const parsed = ServerEventSchema.safeParse(value)
  return parsed.success ? parsed.data : undefined
}
