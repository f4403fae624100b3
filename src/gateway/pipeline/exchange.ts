import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ModelPrice } from '../../pricing/index.js'
import type { SafetyPolicy, WalkedBody } from '../../safety/index.js'
import type {
  GatewayAgent,
  GatewayControl,
  GatewayProvider,
  RequestRecord,
} from '../../services/gateway-control.js'
import type { ApiAdapter, Json, RequestInfo } from '../adapters/types.js'
import type { EventHub } from '../events.js'
import type { Admission, LeaseBook } from '../leases.js'
import type { Metrics } from '../metrics.js'
import type { MockOptions } from '../mock-upstream.js'
import type { RateLimiter } from '../rate-limit.js'
import type { Upstreams } from '../upstream.js'

/** What every stage may use: the control plane's port and the gateway's own in-memory parts. */
export interface GatewayDeps {
  readonly control: GatewayControl
  readonly leases: LeaseBook
  readonly limiter: RateLimiter
  readonly upstreams: Upstreams
  readonly metrics: Metrics
  readonly events: EventHub
  readonly holder: string
  readonly maxBodyBytes: number
  readonly mock: MockOptions | undefined
  /** Off only to measure what the firewall costs (benchmarks). */
  readonly firewall: boolean
}

/** One request on its way through the stages; each stage fills in what it learns. */
export interface Exchange {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  adapter: ApiAdapter
  readonly record: RequestRecord
  readonly t0: number
  upstreamMs: number
  /** Whether its record was written (every request gets exactly one). */
  recorded: boolean
  /** Set when the settlement was answered before the store had it: settles once it is written there. */
  written?: Promise<void>
  agent?: GatewayAgent
  raw?: Buffer
  body?: Json
  info?: RequestInfo
  provider?: GatewayProvider
  price?: ModelPrice
  /** The model id the provider knows. */
  model?: string
  /** Whether the input firewall redacted the body (it is then serialized again before it is sent). */
  redacted?: boolean
  /** The body's texts, walked once for the firewall and the tokenizer. */
  walked?: WalkedBody
  /** Whether the agent's policy checks anything on input, on output. */
  checks?: { policy: SafetyPolicy; input: boolean; output: boolean }
  /** Input tokens the admission held for: counted, or a sure upper bound when far from the budget's edge. */
  input?: number
  /** Input tokens counted with the tokenizer, once something needed them. */
  counted?: number
  /** Output tokens allowed per choice, as reserved (and sent upstream). */
  outputCap: number
  /** What the request holds of the budget until it is settled or released. */
  admission?: Admission
  /** The body as sent upstream. */
  outgoing?: Buffer | string
  clientWantsUsage: boolean
}

/** A stage's refusal: answered in the API's error shape and recorded. */
export interface Refusal {
  status: number
  code: string
  message: string
  /** The record's outcome when the status alone does not say it (`safety_blocked`). */
  outcome?: string
  headers?: Record<string, string>
}

export const refusal = (
  status: number,
  code: string,
  message: string,
  extra: Partial<Refusal> = {},
): Refusal => ({
  status,
  code,
  message,
  ...extra,
})
