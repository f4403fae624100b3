import type { ServerResponse } from 'node:http'
import { finishTimes, outcomeOf } from '../record.js'
import type { Exchange, GatewayDeps, Refusal } from './exchange.js'

/** The one way anything the gateway says goes on the wire: a status, headers and a whole body. */
export function sendBody(
  res: ServerResponse,
  status: number,
  body: string,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return
  res.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
}

export const sendJson = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
) => sendBody(res, status, JSON.stringify(body), 'application/json', headers)

/** Write a request's record once, whatever happened to it (a failed write is logged, never thrown). */
export async function writeRecord(deps: GatewayDeps, ex: Exchange): Promise<void> {
  if (ex.recorded) return
  ex.recorded = true
  finishTimes(ex.record, performance.now() - ex.t0, ex.upstreamMs)
  await deps.control.record(ex.record).catch((error: unknown) => {
    process.stderr.write(
      `iron gateway: could not record request ${ex.record.id}: ${(error as Error).message}\n`,
    )
  })
}

const iron = (ex: Exchange, extra: Record<string, string> = {}) => ({
  ...extra,
  'x-iron-request-id': ex.record.id,
  'x-iron-overhead-ms': Math.max(performance.now() - ex.t0 - ex.upstreamMs, 0).toFixed(3),
})

/** Refuse a request: recorded, answered in the called API's error shape, observed. */
export async function refuse(deps: GatewayDeps, ex: Exchange, refusal: Refusal): Promise<void> {
  ex.record.status = refusal.status
  ex.record.outcome = refusal.outcome ?? outcomeOf(refusal.status)
  ex.record.error_code ??= refusal.code
  await writeRecord(deps, ex)
  sendJson(
    ex.res,
    refusal.status,
    ex.adapter.error(refusal.status, refusal.code, refusal.message),
    iron(ex, refusal.headers),
  )
  observe(deps, ex, refusal.status, ex.record.outcome)
}

/** Answer with a whole body (a JSON answer, or an upstream's error relayed), recorded unless already settled. */
export async function answer(
  deps: GatewayDeps,
  ex: Exchange,
  status: number,
  outcome: string,
  body: string,
  contentType: string,
  headers: Record<string, string> = {},
): Promise<void> {
  ex.record.status = status
  ex.record.outcome = outcome
  await writeRecord(deps, ex)
  sendBody(ex.res, status, body, contentType, iron(ex, headers))
  observe(deps, ex, status, outcome)
}

/** A request that got no answer (its client left first): recorded and observed all the same. */
export async function abandoned(deps: GatewayDeps, ex: Exchange): Promise<void> {
  ex.record.status = 499
  ex.record.outcome = 'client_closed'
  ex.record.error_code ??= 'client_closed'
  await writeRecord(deps, ex)
  observe(deps, ex, 499, 'client_closed')
}

/** Metrics and the `/_iron/events` feed, once per request. */
export function observe(deps: GatewayDeps, ex: Exchange, status: number, outcome: string): void {
  const latency = performance.now() - ex.t0
  deps.metrics.latency.observe(latency)
  deps.metrics.overhead.observe(Math.max(latency - ex.upstreamMs, 0))
  const agent = ex.agent?.name ?? '(unauthenticated)'
  const r = ex.record
  deps.metrics.request({ agent, model: r.model ?? '', outcome, status }, r.cost_micros ?? 0, {
    input: r.input_tokens ?? 0,
    output: r.output_tokens ?? 0,
  })
  // Nothing is built for the events feed while nobody watches it.
  if (deps.events.size === 0) return
  // After the alert its settlement may have raised, which is known once the store has it.
  if (ex.written) void ex.written.then(() => publishRequest(deps, ex, status, outcome, agent, latency))
  else publishRequest(deps, ex, status, outcome, agent, latency)
}

function publishRequest(
  deps: GatewayDeps,
  ex: Exchange,
  status: number,
  outcome: string,
  agent: string,
  latency: number,
): void {
  const r = ex.record
  deps.events.publish({
    type: 'request',
    at: new Date().toISOString(),
    id: r.id,
    agent,
    agent_id: ex.agent?.id ?? null,
    model: r.model,
    provider: r.provider,
    status,
    outcome,
    stream: r.stream === 1,
    input_tokens: r.input_tokens,
    output_tokens: r.output_tokens,
    cost_micros: r.cost_micros,
    latency_ms: Math.round(latency * 1000) / 1000,
  })
}
