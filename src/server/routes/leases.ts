import type { IncomingMessage } from 'node:http'
import { z } from 'zod'
import { authError, ExitCode, isIronError } from '../../core/errors.js'
import { isId } from '../../core/ids.js'
import { MAX_MICROS } from '../../core/money.js'
import { LEASE_PROTOCOL, type ReportedEvent } from '../../services/lease-protocol.js'
import { MAX_REPORT_EVENTS } from '../../services/local/remote-leases.js'
import { HttpError } from '../errors.js'
import { type AnyRoute, route } from '../route.js'

/**
 * The lease protocol (SPEC §6): team gateways borrow an agent's budget from `iron serve`, report what each
 * request cost, top their lease up and give back the rest. Authenticated by the agent's IC token (never a
 * person's session): in the handshake's body (`ic_token`) or as `Authorization: Bearer iron_ic_…`; the other
 * calls take the bearer, and a lease answers only to its own agent's tokens. Every body and reply carries
 * `protocol: 1`; another version is refused before anything else (400 PROTOCOL_UNSUPPORTED).
 */

// ---- Shapes ------------------------------------------------------------------------------------------------

const protocol = z.literal(LEASE_PROTOCOL)
const micros = z.number().int().min(0).max(MAX_MICROS)
const tokens = z.number().int().min(0).max(1_000_000_000_000)
const epochMs = z.number().int().min(0).max(8_640_000_000_000_000)
const duration = z.number().min(0).max(1_000_000_000)
const sha256 = z.string().regex(/^[0-9a-f]{64}$/)
const text = (max: number) => z.string().max(max)
const idOf = (prefix: 'lease' | 'req') =>
  z
    .string()
    .max(40)
    .refine((v) => isId(v, prefix), `must be a ${prefix}_ ID`)
const leaseId = idOf('lease')
/** A gateway's runtime id: one per gateway process, printable, bounded. */
const runtimeId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')

const Findings = z.strictObject({
  counts: z.record(text(64), z.number().int().min(0).max(1_000_000)),
  blocked: z.array(text(64)).max(100),
  error: text(500).nullable(),
  items: z
    .array(
      z.strictObject({
        category: text(64),
        action: text(16),
        path: text(500).nullable(),
        start: z.number().int().min(0).max(1_000_000_000),
        end: z.number().int().min(0).max(1_000_000_000),
        sha256,
      }),
    )
    .max(1_000),
})

/** What a gateway writes about a request (src/services/gateway-control.ts RequestRecord), bounded. */
const RequestRecordSchema = z
  .strictObject({
    id: idOf('req'),
    agent_id: text(64).nullable(),
    token_id: text(64).nullable(),
    api: text(64),
    model: text(200).nullable(),
    provider: text(200).nullable(),
    stream: z.union([z.literal(0), z.literal(1)]),
    status: z.number().int().min(0).max(999),
    outcome: text(64),
    error_code: text(200).nullable(),
    input_tokens: tokens.nullable(),
    output_tokens: tokens.nullable(),
    cached_tokens: tokens.nullable(),
    cost_micros: micros.nullable(),
    cost_known: z.union([z.literal(0), z.literal(1)]).nullable(),
    reserved_micros: micros.nullable(),
    started_at: epochMs,
    latency_ms: duration.nullable(),
    upstream_ms: duration.nullable(),
    overhead_ms: duration.nullable(),
    prompt_sha256: sha256.nullable(),
    response_sha256: sha256.nullable(),
    findings: z.strictObject({ input: Findings.optional(), output: Findings.optional() }).nullable(),
    holder: text(300).nullable(),
  })
  .meta({ id: 'LeaseRequestRecord' })

const ReportedEventSchema = z
  .strictObject({
    request_id: idOf('req'),
    at: epochMs,
    model: text(200).nullable(),
    provider: text(200).nullable(),
    input_tokens: tokens.nullable(),
    output_tokens: tokens.nullable(),
    cached_tokens: tokens.nullable(),
    /** What the request cost: a settlement, charged (even 0); null: a request only recorded (refused, failed). */
    cost_micros: micros.nullable(),
    cost_known: z.boolean(),
    /**
     * What the gateway held on the lease for it: the draw takes at most this (and what the lease holds);
     * 0 or less, or null (a record only), nothing.
     */
    room_micros: z.number().int().min(-MAX_MICROS).max(MAX_MICROS).nullable(),
    record: RequestRecordSchema,
  })
  .meta({ id: 'LeaseReportEvent' })

const HandshakeBody = z
  .strictObject({
    protocol,
    /** The agent's IC token (or send it as Authorization: Bearer). */
    ic_token: z.string().max(300).optional(),
    runtime_id: runtimeId,
    runtime_version: z.string().min(1).max(64),
    host: z.string().max(255).nullable().optional(),
    /** How much the gateway would like to hold (default: about a minute of the agent's recent spend). */
    requested_micros: micros.optional(),
    /** What the request at hand needs (its worst case): refused (402) when the budget has less free. */
    min_micros: micros.optional(),
    /**
     * 32 random bytes (base64url) the gateway may also report and return this lease with, as the bearer:
     * after a crash it replays its reports before any agent comes back with a token. The newest wins.
     */
    report_key: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes in base64url (43 characters)')
      .optional(),
  })
  .meta({ id: 'LeaseHandshake' })

const ReportBody = z
  .strictObject({ protocol, lease_id: leaseId, events: z.array(ReportedEventSchema).max(MAX_REPORT_EVENTS) })
  .meta({ id: 'LeaseReport' })

const RefreshBody = z
  .strictObject({
    protocol,
    lease_id: leaseId,
    /** The size of the top-up (default: about a minute of the agent's recent spend). */
    requested_micros: micros.optional(),
    /** What the request at hand needs beyond what the lease holds free. */
    min_micros: micros,
  })
  .meta({ id: 'LeaseRefresh' })

const ReturnBody = z
  .strictObject({
    protocol,
    lease_id: leaseId,
    /** What the gateway spent on the lease in all: what is not reported yet stays held until it is. */
    spent_micros: micros,
  })
  .meta({ id: 'LeaseReturn' })

const action = z.enum(['block', 'redact', 'log', 'off'])

const GatewayAgentSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(['active', 'suspended', 'deleted']),
  allowed_providers: z.array(z.string()),
  allowed_models: z.array(z.string()),
  rpm_limit: z.number().int().nullable(),
  tpm_limit: z.number().int().nullable(),
  budgeted: z.boolean(),
  policy: z.object({
    input: z.record(z.string(), action),
    output: z.record(z.string(), action),
    injection_threshold: z.number(),
  }),
})

const PriceSchema = z.object({
  model: z.string(),
  provider: z.string(),
  kind: z.enum(['chat', 'embedding']),
  input_micros_per_mtok: z.number().int(),
  output_micros_per_mtok: z.number().int(),
  cached_input_micros_per_mtok: z.number().int().nullable(),
  cache_write_micros_per_mtok: z.number().int().nullable(),
  max_output_tokens: z.number().int(),
  context_window: z.number().int(),
  aliases: z.array(z.string()),
})

const iso = z.iso.datetime()
const revocation = z.enum(['token_revoked', 'agent_suspended', 'agent_deleted', 'limit_changed', 'expired'])

const HandshakeReply = z
  .object({
    protocol,
    lease_id: z.string(),
    granted_micros: micros,
    drawn_micros: micros,
    expires_at: iso,
    counted_at: z.number().int(),
    period_end: z.number().int().nullable(),
    limit_micros: z.number().int().nullable(),
    on_insufficient: z.enum(['reject', 'clamp']),
    agent_remaining_micros: z.number().int().nullable(),
    token_id: z.string(),
    agent: GatewayAgentSchema,
    providers: z.array(
      z.object({
        id: z.string(),
        provider: z.string(),
        kind: z.enum(['openai', 'anthropic', 'openai-compatible', 'mock']),
        base_url: z.string().nullable(),
        ip_token: z.string().nullable(),
      }),
    ),
    prices: z.array(PriceSchema),
    report_interval_ms: z.number().int(),
  })
  .meta({ id: 'LeaseGranted' })

const ReportReply = z
  .object({
    protocol,
    accepted: z.number().int(),
    duplicates: z.number().int(),
    lease: z.object({
      lease_id: z.string(),
      granted_micros: micros,
      drawn_micros: micros,
      expires_at: iso,
      revoked: z.boolean(),
      reason: revocation.nullable(),
    }),
    agent: z.object({
      status: z.enum(['active', 'suspended', 'deleted']),
      limit_micros: z.number().int().nullable(),
      remaining_micros: z.number().int().nullable(),
    }),
  })
  .meta({ id: 'LeaseReported' })

const RefreshReply = z
  .object({
    protocol,
    lease_id: z.string(),
    granted_micros: micros,
    added_micros: micros,
    expires_at: iso,
    agent_remaining_micros: z.number().int().nullable(),
  })
  .meta({ id: 'LeaseRefreshed' })

const ReturnReply = z
  .object({ protocol, lease_id: z.string(), returned_micros: micros, reported_micros: micros })
  .meta({ id: 'LeaseReturned' })

// ---- Checks ------------------------------------------------------------------------------------------------

/** Another protocol version is refused before its body is read as this one's (it may differ in any field). */
function protocolFirst(body: unknown): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !('protocol' in body)) return
  const version = (body as { protocol: unknown }).protocol
  if (version === LEASE_PROTOCOL) return
  throw new HttpError(
    400,
    'PROTOCOL_UNSUPPORTED',
    `This server speaks lease protocol ${LEASE_PROTOCOL}; the gateway sent ${JSON.stringify(version)?.slice(0, 40)}`,
    {
      hint: 'Run the same iron version on the gateway and the server',
      details: { supported: [LEASE_PROTOCOL] },
    },
  )
}

/** The IC token a call carries as its bearer (lenient in form: the service says what is wrong with it). */
function icTokenOf(req: IncomingMessage, inBody?: string): string {
  const header = req.headers.authorization
  const bearer = header ? /^Bearer[ ]+(\S+)[ ]*$/i.exec(header)?.[1] : undefined
  if (header && !bearer)
    throw authError('AUTH_REQUIRED', 'The Authorization header is not "Bearer <IC token>"', TOKEN_HINT)
  if (inBody !== undefined && bearer !== undefined && inBody !== bearer)
    throw authError(
      'TOKEN_MISMATCH',
      'The body and the Authorization header name two different tokens',
      TOKEN_HINT,
    )
  const token = inBody ?? bearer
  if (token === undefined)
    throw authError('AUTH_REQUIRED', "The lease protocol needs the agent's IC token", TOKEN_HINT)
  return token
}

const TOKEN_HINT = 'Send the agent IC token (iron_ic_…) as Authorization: Bearer'

/** Refusals of budget (402, as a gateway answers them) keep their code, message and details. */
async function asLeaseAnswer<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    if (isIronError(error) && error.exitCode === ExitCode.refused && !(error instanceof HttpError)) {
      throw new HttpError(402, error.code, error.message, {
        exitCode: ExitCode.refused,
        hint: error.hint,
        details: error.details,
      })
    }
    throw error
  }
}

// ---- Routes ------------------------------------------------------------------------------------------------

export const leaseRoutes: AnyRoute[] = [
  route({
    method: 'POST',
    path: '/api/v1/budget/handshake',
    summary:
      "A team gateway borrows part of an agent's budget: a lease, the agent's terms, its providers' keys sealed for the lease (lease protocol)",
    tag: 'leases',
    access: 'agent',
    precheck: protocolFirst,
    body: HandshakeBody,
    response: HandshakeReply,
    handler: ({ cp, req, body }) =>
      asLeaseAnswer(() => {
        const { protocol: _, ic_token, ...input } = body
        return cp.remoteLeases.handshake({ ...input, ic_token: icTokenOf(req, ic_token) })
      }),
  }),
  route({
    method: 'POST',
    path: '/api/v1/budget/report',
    summary:
      'A team gateway reports its requests (each charged once, by request_id) and renews its lease; the reply says whether the lease was revoked (lease protocol)',
    tag: 'leases',
    access: 'agent',
    precheck: protocolFirst,
    body: ReportBody,
    response: ReportReply,
    handler: ({ cp, req, body }) =>
      asLeaseAnswer(() =>
        cp.remoteLeases.report(icTokenOf(req), body.lease_id, body.events as ReportedEvent[]),
      ),
  }),
  route({
    method: 'POST',
    path: '/api/v1/budget/refresh',
    summary: 'A team gateway tops its lease up before it runs dry (lease protocol)',
    tag: 'leases',
    access: 'agent',
    precheck: protocolFirst,
    body: RefreshBody,
    response: RefreshReply,
    handler: ({ cp, req, body }) =>
      asLeaseAnswer(() =>
        cp.remoteLeases.refresh(icTokenOf(req), {
          lease_id: body.lease_id,
          min_micros: body.min_micros,
          requested_micros: body.requested_micros,
        }),
      ),
  }),
  route({
    method: 'POST',
    path: '/api/v1/budget/return',
    summary: 'A team gateway gives back what its lease did not spend (lease protocol; idempotent)',
    tag: 'leases',
    access: 'agent',
    precheck: protocolFirst,
    body: ReturnBody,
    response: ReturnReply,
    handler: ({ cp, req, body }) =>
      asLeaseAnswer(() =>
        cp.remoteLeases.return(icTokenOf(req), { lease_id: body.lease_id, spent_micros: body.spent_micros }),
      ),
  }),
]
