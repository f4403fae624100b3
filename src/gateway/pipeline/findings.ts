import type { EvaluatedFinding } from '../../safety/index.js'
import type { FindingsSummary } from '../record.js'
import type { Exchange, GatewayDeps } from './exchange.js'

/** Keep what the firewall found in the request record, and tell `/_iron/events` watchers. */
export function findings(
  deps: GatewayDeps,
  ex: Exchange,
  direction: 'input' | 'output',
  result: {
    findings: ReadonlyArray<EvaluatedFinding & { path?: string }>
    blocked: readonly string[]
    error?: { code: string; message: string }
  },
): void {
  if (result.findings.length === 0 && !result.error) return
  const counts: Record<string, number> = {}
  for (const f of result.findings) counts[f.category] = (counts[f.category] ?? 0) + 1
  const summary: FindingsSummary = {
    counts,
    blocked: [...result.blocked],
    error: result.error?.code ?? null,
    items: result.findings.slice(0, 100).map((f) => ({
      category: f.category,
      action: f.action,
      path: f.path ?? null,
      start: f.start,
      end: f.end,
      sha256: f.sha256,
    })),
  }
  ex.record.findings = { ...ex.record.findings, [direction]: summary }
  const actions = new Set(result.findings.map((f) => f.action))
  deps.events.publish({
    type: 'safety',
    at: new Date().toISOString(),
    agent: ex.agent?.name ?? '(unauthenticated)',
    agent_id: ex.agent?.id ?? null,
    request_id: ex.record.id,
    direction,
    action: result.blocked.length || result.error ? 'block' : actions.has('redact') ? 'redact' : 'log',
    categories: Object.keys(counts),
  })
}
