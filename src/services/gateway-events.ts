import { z } from 'zod'

/**
 * The events of a gateway's `/_iron/events` stream, as the gateway publishes them and `iron top` reads them.
 * One schema for both sides: the gateway's publish calls are checked against its type, and a watcher parses
 * each event with it. Outcomes and categories are open strings: a newer gateway may send values an older
 * watcher does not know, and the watcher shows them as they come.
 */

const at = z.iso.datetime()
const micros = z.number().int().nonnegative()

/** A finished request (answered, refused, or left by its client), one per request record. */
export const RequestEventSchema = z.object({
  type: z.literal('request'),
  at,
  /** The request record's id (`x-iron-request-id`). */
  id: z.string(),
  /** `(unauthenticated)` when no token was accepted. */
  agent: z.string(),
  agent_id: z.string().nullable(),
  model: z.string().nullable(),
  provider: z.string().nullable(),
  /** What the client got on the wire; 499 when it left first. */
  status: z.number().int(),
  /** `ok`, `budget_exceeded`, `safety_blocked`, `rate_limited`, `upstream_error`, `client_closed`, … */
  outcome: z.string(),
  stream: z.boolean(),
  input_tokens: z.number().int().nonnegative().nullable(),
  output_tokens: z.number().int().nonnegative().nullable(),
  /** What the budget was charged; null when nothing was. */
  cost_micros: micros.nullable(),
  latency_ms: z.number().nonnegative(),
  /**
   * The gateway that served it (`iron serve`'s stream only): its holder id (a team gateway's runtime id) and
   * host. A gateway's own stream leaves it out: it is that gateway.
   */
  gateway: z.object({ holder: z.string(), host: z.string().nullable() }).nullable().optional(),
})

/** What the firewall found in one direction of a request (counts by category; never the text). */
export const SafetyEventSchema = z.object({
  type: z.literal('safety'),
  at,
  agent: z.string(),
  agent_id: z.string().nullable(),
  request_id: z.string(),
  direction: z.enum(['input', 'output']),
  /** The strongest action taken: the request was blocked, something was redacted, or only logged. */
  action: z.enum(['block', 'redact', 'log']),
  categories: z.array(z.string()),
})

/** A budget crossed one of its alert thresholds. */
export const AlertEventSchema = z.object({
  type: z.literal('alert'),
  at,
  agent: z.string(),
  agent_id: z.string(),
  threshold_pct: z.number().int().min(1).max(100),
  /** What is left of the budget; null when it has no limit. */
  remaining_micros: micros.nullable(),
})

export const GatewayEventSchema = z.discriminatedUnion('type', [
  RequestEventSchema,
  SafetyEventSchema,
  AlertEventSchema,
])

export type RequestEvent = z.infer<typeof RequestEventSchema>
export type SafetyEvent = z.infer<typeof SafetyEventSchema>
export type AlertEvent = z.infer<typeof AlertEventSchema>
export type GatewayEvent = z.infer<typeof GatewayEventSchema>
export type GatewayEventType = GatewayEvent['type']

/** One event from the `data:` of a server-sent event; undefined when it is not JSON or not an event. */
export function parseGatewayEvent(data: string): GatewayEvent | undefined {
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return undefined
  }
  const parsed = GatewayEventSchema.safeParse(value)
  return parsed.success ? parsed.data : undefined
}
