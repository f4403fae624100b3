import type { ModelPrice } from '../pricing/index.js'
import type { OnInsufficient, ProviderKind } from './api.js'
import type { GatewayAgent, RequestRecord } from './gateway-control.js'

/**
 * The lease protocol between team gateways and `iron serve` (SPEC §6), as it goes over the wire: what
 * the server's side (services/local/remote-leases.ts, server/routes/leases.ts) answers and the gateway's
 * side (services/remote/) reads. Every body and answer carries `protocol`.
 */
export const LEASE_PROTOCOL = 1

/** Why the server closed a lease before it went back. */
export type LeaseRevocation =
  | 'token_revoked'
  | 'agent_suspended'
  | 'agent_deleted'
  | 'limit_changed'
  | 'expired'

export interface HandshakeInput {
  ic_token: string
  runtime_id: string
  runtime_version: string
  host?: string | null
  requested_micros?: number
  min_micros?: number
  /** A key the gateway may also report and return this lease with (kept in its outbox; never an IC token). */
  report_key?: string
}

export interface LeaseProvider {
  id: string
  provider: string
  kind: ProviderKind
  base_url: string | null
  /** The provider's key sealed for this lease and IC token (src/core/ip-token.ts); null: it takes none. */
  ip_token: string | null
}

export interface HandshakeReply {
  protocol: typeof LEASE_PROTOCOL
  lease_id: string
  /** What the lease holds in all (its grant and top-ups, less what went back). */
  granted_micros: number
  /** What reports drew from it so far (0 for a new lease; a retried handshake finds the lease it has). */
  drawn_micros: number
  expires_at: string
  counted_at: number
  period_end: number | null
  limit_micros: number | null
  on_insufficient: OnInsufficient
  agent_remaining_micros: number | null
  token_id: string
  agent: GatewayAgent
  providers: LeaseProvider[]
  /** The server's prices; `source: 'override'` marks its own rows over the bundled catalog. */
  prices: Array<ModelPrice & { source?: string }>
  report_interval_ms: number
}

/** One request as reported: a draw on the lease (cost and room), or only its record (cost null). */
export interface ReportedEvent {
  request_id: string
  at: number
  model: string | null
  provider: string | null
  input_tokens: number | null
  output_tokens: number | null
  cached_tokens: number | null
  /** What the request cost (a settlement: charged, even 0); null for a request only recorded. */
  cost_micros: number | null
  cost_known: boolean
  /** What the gateway held on the lease for this request (≤ 0 or null: nothing). */
  room_micros: number | null
  record: RequestRecord
}

export interface LeaseState {
  lease_id: string
  granted_micros: number
  drawn_micros: number
  expires_at: string
  revoked: boolean
  reason: LeaseRevocation | null
}

export interface ReportReply {
  protocol: typeof LEASE_PROTOCOL
  accepted: number
  duplicates: number
  lease: LeaseState
  agent: { status: GatewayAgent['status']; limit_micros: number | null; remaining_micros: number | null }
}

export interface RefreshReply {
  protocol: typeof LEASE_PROTOCOL
  lease_id: string
  granted_micros: number
  added_micros: number
  expires_at: string
  agent_remaining_micros: number | null
}

export interface ReturnReply {
  protocol: typeof LEASE_PROTOCOL
  lease_id: string
  returned_micros: number
  reported_micros: number
}
