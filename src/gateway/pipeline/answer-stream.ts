import { createHash } from 'node:crypto'
import { StringDecoder } from 'node:string_decoder'
import { drainOrClose } from '../http.js'
import { StreamFirewall } from '../stream-firewall.js'
import { StreamMeter } from '../stream-meter.js'
import type { UpstreamResponse } from '../upstream.js'
import type { Exchange, GatewayDeps } from './exchange.js'
import { findings } from './findings.js'
import { observe } from './respond.js'
import { settle } from './settle.js'

/**
 * Stage 8 (stream): forward each event as it comes, meter it from the stream itself, run the output
 * firewall on it, and settle before the stream's closing event goes out, so a client that saw a stream
 * finish can rely on its charge being kept (in the ledger, or in the gateway's journal on its way there).
 */
export async function answerStream(
  deps: GatewayDeps,
  ex: Exchange,
  upstream: UpstreamResponse,
  upstreamStart: number,
  controller: AbortController,
): Promise<void> {
  const { res, adapter } = ex
  const checks = ex.checks!
  const firewall = checks.output ? new StreamFirewall(adapter, checks.policy) : undefined
  const meter = new StreamMeter(adapter, adapter.asksStreamUsage && !ex.clientWantsUsage, firewall)
  const hash = createHash('sha256')
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-iron-request-id': ex.record.id,
    'x-iron-overhead-ms': (upstreamStart - ex.t0).toFixed(3),
  })
  // The headers go out with the first events when they come in the same turn of the event loop (one write,
  // not two), and on their own at the end of it otherwise, so a client still sees them before a slow first token.
  let wrote = false
  setImmediate(() => {
    if (!wrote && !res.destroyed && !res.writableEnded) res.flushHeaders()
  })
  let failed: Error | undefined
  // Each chunk is metered and forwarded as it is parsed; a client that reads slowly holds the upstream.
  const utf8 = new StringDecoder('utf8')
  try {
    await upstream.body.each((chunk) => {
      // What the upstream sent is metered even when the client has left: the provider bills it.
      const out = meter.push(utf8.write(chunk))
      if (res.destroyed) return false
      if (out) {
        hash.update(out)
        wrote = true
        if (!res.write(out)) return drainOrClose(res)
      }
      return meter.blocked ? false : undefined
    })
    const rest = meter.push(utf8.end()) + meter.end()
    if (rest && !res.destroyed) {
      hash.update(rest)
      wrote = true
      res.write(rest)
    }
  } catch (error) {
    failed = error as Error
  }
  ex.upstreamMs = performance.now() - upstreamStart
  const clientGone = res.destroyed || controller.signal.aborted
  const usage = meter.usage ?? (meter.partialInput ? { ...meter.partialInput, output_tokens: 0 } : undefined)
  const complete = Boolean(meter.usage) && !failed && !clientGone
  if (meter.blocked) controller.abort()
  if (firewall) findings(deps, ex, 'output', { findings: firewall.findings, blocked: firewall.blocked ?? [] })
  const outcome = clientGone
    ? 'client_closed'
    : meter.blocked
      ? 'safety_blocked'
      : failed
        ? 'upstream_error'
        : 'ok'
  // The closing event (or an error event) goes out only once the usage is committed.
  let closing = clientGone || meter.blocked ? '' : meter.closing()
  if ((failed || meter.blocked) && !clientGone) {
    const error = meter.blocked
      ? adapter.error(
          400,
          'safety_violation',
          `The response was blocked by iron's output firewall: ${(firewall?.blocked ?? []).join(', ')}`,
        )
      : adapter.error(502, 'upstream_failed', `Provider ${ex.provider!.name} stopped mid-stream`)
    closing +=
      adapter.family === 'anthropic'
        ? `event: error\ndata: ${JSON.stringify(error)}\n\n`
        : `data: ${JSON.stringify(error)}\n\n`
  }
  ex.record.response_sha256 = hash.update(closing).digest('hex')
  // The status the client saw: the stream's headers went out as 200, whatever its events said after.
  const status = clientGone ? 499 : 200
  await settle(deps, ex, complete ? meter.usage : usage, meter.text, outcome, status, meter.extraChars)
  // The closing event and the end of the body in one write.
  if (!res.destroyed) res.end(closing)
  observe(deps, ex, status, outcome)
}
