import { Agent } from 'undici'
import { ServerConnection } from '../../client/http.js'
import { ExitCode, IronError } from '../../core/errors.js'
import {
  type HandshakeInput,
  type HandshakeReply,
  LEASE_PROTOCOL,
  type RefreshReply,
  type ReportedEvent,
  type ReportReply,
  type ReturnReply,
} from '../lease-protocol.js'

/** The answers as this gateway reads them: the `protocol` field is checked once, in #post. */
export type HandshakeAnswer = Omit<HandshakeReply, 'protocol'>
export type ReportAnswer = Omit<ReportReply, 'protocol'>
export type RefreshAnswer = Omit<RefreshReply, 'protocol'>
export type ReturnAnswer = Omit<ReturnReply, 'protocol'>

/** How long a call on a request's path may take before the gateway says the control plane is unreachable. */
export const REQUEST_PATH_TIMEOUT_MS = 5_000
/** Reports and returns run beside the requests: they may wait longer. */
const BACKGROUND_TIMEOUT_MS = 15_000

/**
 * The four calls of the lease protocol to one `iron serve`, over one keep-alive pool. The bearer is the
 * IC token the lease was taken with, or the lease's report key; neither is ever logged or written by this.
 */
export class LeaseClient {
  readonly url: string
  readonly #conn: ServerConnection
  readonly #agent: Agent

  constructor(url: string, userAgent: string) {
    this.#agent = new Agent({
      connect: { timeout: REQUEST_PATH_TIMEOUT_MS },
      keepAliveTimeout: 10_000,
      headersTimeout: BACKGROUND_TIMEOUT_MS,
    })
    this.#conn = new ServerConnection({ url, userAgent, dispatcher: this.#agent })
    this.url = this.#conn.url
  }

  async handshake(body: HandshakeInput): Promise<HandshakeAnswer> {
    const answer = await this.#post<HandshakeAnswer>(
      body.ic_token,
      '/api/v1/budget/handshake',
      body,
      REQUEST_PATH_TIMEOUT_MS,
    )
    const agent = answer.agent as Partial<HandshakeAnswer['agent']> | undefined
    this.#check(
      typeof answer.lease_id === 'string' &&
        isMicros(answer.granted_micros) &&
        (answer.drawn_micros === undefined || isMicros(answer.drawn_micros)) &&
        Number.isSafeInteger(answer.counted_at) &&
        !Number.isNaN(Date.parse(answer.expires_at)) &&
        (answer.limit_micros === null || isMicros(answer.limit_micros)) &&
        typeof answer.token_id === 'string' &&
        typeof agent?.id === 'string' &&
        typeof agent.name === 'string' &&
        ['active', 'suspended', 'deleted'].includes(agent.status as string) &&
        Array.isArray(agent.allowed_providers) &&
        Array.isArray(agent.allowed_models) &&
        typeof agent.policy === 'object' &&
        Array.isArray(answer.providers),
      'handshake',
    )
    return answer
  }

  async report(bearer: string, lease_id: string, events: readonly ReportedEvent[]): Promise<ReportAnswer> {
    const answer = await this.#post<ReportAnswer>(
      bearer,
      '/api/v1/budget/report',
      { lease_id, events },
      BACKGROUND_TIMEOUT_MS,
    )
    this.#check(
      typeof answer.lease === 'object' &&
        answer.lease !== null &&
        typeof answer.lease.revoked === 'boolean' &&
        isMicros(answer.lease.granted_micros) &&
        typeof answer.agent === 'object' &&
        answer.agent !== null &&
        ['active', 'suspended', 'deleted'].includes(answer.agent.status),
      'report',
    )
    return answer
  }

  async refresh(
    bearer: string,
    body: { lease_id: string; min_micros: number; requested_micros?: number },
    timeoutMs = REQUEST_PATH_TIMEOUT_MS,
  ): Promise<RefreshAnswer> {
    const answer = await this.#post<RefreshAnswer>(bearer, '/api/v1/budget/refresh', body, timeoutMs)
    this.#check(isMicros(answer.granted_micros), 'refresh')
    return answer
  }

  giveBack(bearer: string, lease_id: string, spent_micros: number): Promise<ReturnAnswer> {
    return this.#post(bearer, '/api/v1/budget/return', { lease_id, spent_micros }, BACKGROUND_TIMEOUT_MS)
  }

  async close(): Promise<void> {
    await this.#agent.close().catch(() => {})
  }

  /** An answer of the right protocol but the wrong shape: said as a server that is not iron's, never trusted. */
  #check(ok: boolean, call: string): void {
    if (!ok)
      throw new IronError(
        'SERVER_ERROR',
        `The server at ${this.url} answered a ${call} this gateway cannot read`,
        {
          hint: 'Run the same iron version on the gateway and the server',
        },
      )
  }

  async #post<T>(bearer: string, path: string, body: object, timeoutMs: number): Promise<T> {
    const answer = await this.#conn
      .withToken(bearer)
      .send<T & { protocol?: unknown }>('POST', path, { protocol: LEASE_PROTOCOL, ...body }, { timeoutMs })
    if (!answer || typeof answer !== 'object' || answer.protocol !== LEASE_PROTOCOL)
      throw unsupported(this.url, (answer as { protocol?: unknown } | undefined)?.protocol)
    return answer
  }
}

function unsupported(url: string, protocol: unknown): IronError {
  return new IronError(
    'LEASE_PROTOCOL_UNSUPPORTED',
    `The server at ${url} answered lease protocol ${String(protocol)}; this gateway speaks ${LEASE_PROTOCOL}`,
    { exitCode: ExitCode.usage, hint: 'Run the same iron version on the gateway and the server' },
  )
}

const isMicros = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/** Answers that settle the matter (the server heard and said no), as opposed to a failure to be heard. */
const REFUSALS: ReadonlySet<number> = new Set([
  ExitCode.usage,
  ExitCode.notFound,
  ExitCode.auth,
  ExitCode.refused,
])
const DEFINITE = new Set([
  'LEASE_CLOSED',
  'LEASE_PROTOCOL_UNSUPPORTED',
  'VALIDATION_FAILED',
  'TOO_MANY_EVENTS',
  'BODY_TOO_LARGE',
])
/** The server refused a report batch for what it is (its shape or size), not for whom it came from. */
export const rejectsBatch = (error: unknown): boolean =>
  error instanceof IronError &&
  ['VALIDATION_FAILED', 'TOO_MANY_EVENTS', 'BODY_TOO_LARGE'].includes(error.code)

/**
 * Whether a call failed for want of a server: nothing answers, a timeout, a proxy's page, the server's own
 * failure (5xx). Those are tried again; an answer that refuses (4xx) is not the network's fault.
 */
export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof IronError)) return true
  if (error.code === 'SERVER_UNREACHABLE' || error.code === 'SERVER_TIMEOUT' || error.code === 'SERVER_ERROR')
    return true
  return !REFUSALS.has(error.exitCode) && !DEFINITE.has(error.code)
}
