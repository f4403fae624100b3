import { formatMoney } from '../core/money.js'
import type { DemoAgentSummary, DemoSummary } from '../gateway/demo.js'
import { CATALOG_CHECKED, CATALOG_EFFECTIVE_DATE } from '../pricing/index.js'
import type {
  Agent,
  ApiToken,
  AuditEvent,
  Budget,
  BudgetCheck,
  BudgetRequest,
  IcToken,
  LedgerEntry,
  ModelPriceView,
  Provider,
  ProviderTestResult,
  SafetyFindingView,
  SafetyPolicyView,
  UsageReport,
  UsageRow,
  User,
} from '../services/api.js'
import type { DbCopyResult } from '../services/db-copy.js'
import type { Column, Output } from './output.js'

/** How each resource prints, shared by its list and show commands. */

const list = (values: string[]) => (values.length ? values.join(',') : 'any')
const perMillion = (micros: number | null) => (micros === null ? null : `${formatMoney(micros)}/M`)

export const agentColumns: Column<Agent>[] = [
  { header: 'Name', value: (a) => a.name },
  { header: 'Status', value: (a) => a.status, kind: 'status' },
  { header: 'Project', value: (a) => a.project },
  { header: 'Providers', value: (a) => list(a.allowed_providers), shrink: true },
  { header: 'Token', value: (a) => (a.token ? `${a.token.prefix}…` : null) },
  { header: 'Created', value: (a) => a.created_at, kind: 'time' },
  { header: 'ID', value: (a) => a.id, kind: 'id', shrink: false },
]

export function printAgent(out: Output, a: Agent): void {
  out.record([
    { label: 'Name', value: a.name },
    { label: 'ID', value: a.id, kind: 'id' },
    { label: 'Status', value: a.status, kind: 'status' },
    { label: 'Description', value: a.description },
    { label: 'Project', value: a.project },
    ...(a.owner !== null ? [{ label: 'Owner', value: a.owner }] : []),
    { label: 'Providers', value: list(a.allowed_providers) },
    { label: 'Models', value: list(a.allowed_models) },
    { label: 'Requests/min', value: a.rate_limits.requests_per_minute ?? 'no limit' },
    { label: 'Tokens/min', value: a.rate_limits.tokens_per_minute ?? 'no limit' },
    { label: 'Safety policy', value: a.safety_policy ? JSON.stringify(a.safety_policy) : 'default' },
    { label: 'Token', value: a.token ? `${a.token.prefix}… (issued ${a.token.created_at})` : 'none' },
    { label: 'Created', value: a.created_at, kind: 'time' },
    { label: 'Updated', value: a.updated_at, kind: 'time' },
    ...(a.deleted_at ? [{ label: 'Deleted', value: a.deleted_at, kind: 'time' as const }] : []),
  ])
}

/** `Kind` tells an agent's own token from an `iron run`'s (which ends with its run). */
export const tokenColumns: Column<IcToken>[] = [
  { header: 'Agent', value: (t) => t.agent_name },
  { header: 'Kind', value: (t) => t.kind },
  { header: 'Prefix', value: (t) => `${t.prefix}…` },
  { header: 'Status', value: (t) => t.status, kind: 'status' },
  { header: 'Created', value: (t) => t.created_at, kind: 'time' },
  { header: 'Expires', value: (t) => t.expires_at ?? 'never', kind: 'time' },
  { header: 'Last used', value: (t) => t.last_used_at, kind: 'time' },
  { header: 'ID', value: (t) => t.id, kind: 'id', shrink: false },
]

export function printToken(out: Output, t: IcToken): void {
  out.record([
    { label: 'ID', value: t.id, kind: 'id' },
    { label: 'Agent', value: t.agent_name },
    { label: 'Kind', value: t.kind },
    { label: 'Prefix', value: `${t.prefix}…` },
    { label: 'Status', value: t.status, kind: 'status' },
    { label: 'Created', value: t.created_at, kind: 'time' },
    { label: 'Expires', value: t.expires_at ?? 'never', kind: 'time' },
    { label: 'Last used', value: t.last_used_at, kind: 'time' },
    ...(t.revoked_at ? [{ label: 'Revoked', value: `${t.revoked_at} (${t.revoke_reason})` }] : []),
  ])
}

export const providerColumns: Column<Provider>[] = [
  { header: 'Name', value: (p) => p.name },
  { header: 'Kind', value: (p) => p.kind },
  { header: 'Base URL', value: (p) => p.base_url, shrink: true },
  { header: 'Key', value: (p) => p.key_mask },
  {
    header: 'Last test',
    value: (p) => (p.last_test ? (p.last_test.ok ? 'ok' : 'fail') : null),
    kind: 'status',
  },
  { header: 'ID', value: (p) => p.id, kind: 'id', shrink: false },
]

export function printProvider(out: Output, p: Provider): void {
  out.record([
    { label: 'Name', value: p.name },
    { label: 'ID', value: p.id, kind: 'id' },
    { label: 'Kind', value: p.kind },
    { label: 'Base URL', value: p.base_url ?? (p.kind === 'mock' ? 'in-process' : null) },
    { label: 'Key', value: p.key_mask ?? 'none' },
    { label: 'Description', value: p.description },
    {
      label: 'Last test',
      value: p.last_test
        ? `${p.last_test.ok ? 'ok' : 'failed'}: ${p.last_test.note} (${p.last_test.at})`
        : 'never',
    },
    { label: 'Created', value: p.created_at, kind: 'time' },
  ])
}

export function printProviderTest(out: Output, r: ProviderTestResult): void {
  const mark = r.ok ? out.color.green('✓') : out.color.red('✗')
  out.line(
    `${mark} ${r.provider}: ${r.status === null ? 'no answer' : `HTTP ${r.status}`} in ${r.latency_ms} ms, ${r.note}`,
  )
}

/**
 * A budget's figures add up to its limit (spent + in flight + available), so they keep every significant
 * decimal: $49.9996 available beside $0.0004 spent, where formatMoney alone would show $49.99.
 */
export function budgetMoney(micros: number): string {
  const subCent = Math.abs(micros) % 10_000
  const shown = formatMoney(micros)
  if (Math.abs(micros) < 1_000_000 || subCent === 0) return shown
  return `${shown}${String(subCent).padStart(4, '0').replace(/0+$/, '')}`
}

const budgetLimit = (b: Budget) => (b.limit_micros === null ? 'no limit' : budgetMoney(b.limit_micros))
const available = (b: Budget) => (b.remaining_micros === null ? null : budgetMoney(b.remaining_micros))
/** Spend too small for a tenth of a percent still shows as some. */
const usedPct = (b: Budget) =>
  b.used_pct === null
    ? null
    : b.used_pct === 0 && b.spent_micros + b.in_flight_micros > 0
      ? '<0.1%'
      : `${b.used_pct}%`

/** spent + in flight + available = limit (available is 0 once spent and in flight pass the limit). */
export const budgetColumns: Column<Budget>[] = [
  { header: 'Agent', value: (b) => b.agent_name },
  { header: 'Limit', value: budgetLimit, kind: 'money' },
  { header: 'Period', value: (b) => b.period },
  { header: 'Spent', value: (b) => budgetMoney(b.spent_micros), kind: 'money' },
  { header: 'In flight', value: (b) => budgetMoney(b.in_flight_micros), kind: 'money' },
  { header: 'Available', value: available, kind: 'money' },
  { header: 'Used', value: usedPct },
  { header: 'Resets', value: (b) => b.period_end, kind: 'time' },
]

/**
 * Spent, in flight (worst cases of requests now running) and available. What gateways hold in leases is
 * how they borrow the budget, not spend: shown only with `verbose`, beside the open reservations.
 */
export function printBudget(out: Output, b: Budget, options: { verbose?: boolean } = {}): void {
  out.record([
    { label: 'Agent', value: b.agent_name },
    { label: 'Limit', value: budgetLimit(b) },
    { label: 'Period', value: b.period === 'none' ? 'none (never resets)' : `${b.period} (${b.timezone})` },
    { label: 'Period start', value: b.period_start, kind: 'time' },
    { label: 'Resets', value: b.period_end, kind: 'time' },
    { label: 'Spent', value: budgetMoney(b.spent_micros) },
    { label: 'In flight', value: budgetMoney(b.in_flight_micros) },
    { label: 'Available', value: available(b) ?? 'no limit' },
    { label: 'Used', value: usedPct(b) },
    ...(options.verbose
      ? [
          { label: 'Reserved', value: `${budgetMoney(b.reserved_micros)} (open reservations, in flight)` },
          {
            label: 'Leased',
            value: `${budgetMoney(b.leased_micros)} held by gateways to admit requests (not spent)`,
          },
        ]
      : []),
    {
      label: 'When short',
      value: b.on_insufficient === 'clamp' ? 'clamp max tokens to fit' : 'reject (402)',
    },
    { label: 'Alerts at', value: b.alert_thresholds.map((t) => `${t}%`).join(', ') },
  ])
}

export function printBudgetCheck(out: Output, c: BudgetCheck): void {
  printBudget(out, c.budget)
  out.record([
    { label: 'Burn rate', value: `${formatMoney(c.burn_rate_micros_per_hour)}/h` },
    {
      label: 'Projected',
      value:
        c.projected_period_spend_micros === null
          ? null
          : `${formatMoney(c.projected_period_spend_micros)} by the end of the period`,
    },
    {
      label: 'Runs out',
      value: c.exhausted_at ?? 'not at this rate',
      kind: c.exhausted_at ? 'time' : 'text',
    },
    { label: 'Status', value: c.over ? 'over' : 'ok', kind: 'status' },
  ])
  if (c.verify) {
    out.record([
      {
        label: 'Ledger',
        value: c.verify.ok
          ? `verified: ${c.verify.rows} rows this period match the balances`
          : `MISMATCH: ${c.verify.problems.join('; ')}`,
      },
    ])
  }
}

export const ledgerColumns: Column<LedgerEntry>[] = [
  { header: 'Seq', value: (e) => e.seq, kind: 'number' },
  { header: 'At', value: (e) => e.at, kind: 'time' },
  { header: 'Kind', value: (e) => e.kind },
  { header: 'Spent', value: (e) => (e.spent_delta_micros ? formatMoney(e.spent_delta_micros) : null) },
  {
    header: 'Reserved',
    value: (e) => (e.reserved_delta_micros ? formatMoney(e.reserved_delta_micros) : null),
  },
  { header: 'Model', value: (e) => e.model },
  {
    header: 'Tokens',
    value: (e) => (e.input_tokens === null ? null : `${e.input_tokens}/${e.output_tokens ?? 0}`),
  },
  { header: 'Request', value: (e) => e.reservation_id ?? e.note, shrink: true },
]

export const priceColumns: Column<ModelPriceView>[] = [
  { header: 'Model', value: (p) => p.model },
  { header: 'Provider', value: (p) => p.provider },
  { header: 'Input', value: (p) => perMillion(p.input_micros_per_mtok) },
  { header: 'Output', value: (p) => perMillion(p.output_micros_per_mtok) },
  { header: 'Cached in', value: (p) => perMillion(p.cached_input_micros_per_mtok) },
  { header: 'Max out', value: (p) => p.max_output_tokens, kind: 'number' },
  { header: 'Source', value: (p) => p.source },
  { header: 'Status', value: (p) => lifecycle(p) },
]

/** `retires 2027-01-22`, `retired 2026-11-30`, or nothing for a model in service. */
const lifecycle = (p: ModelPriceView) =>
  p.status === 'active' ? null : `${p.status === 'retired' ? 'retired' : 'retires'} ${p.retires_on}`

/** When the bundled prices were last updated, and per provider checked, for `iron pricing list`. */
export function catalogNote(): string {
  const checked = Object.entries(CATALOG_CHECKED)
    .map(([provider, day]) => `${provider} ${day}`)
    .join(', ')
  return `Bundled catalog last updated ${CATALOG_EFFECTIVE_DATE} (checked: ${checked}); your overrides win.`
}

export function printPrice(out: Output, p: ModelPriceView): void {
  out.record([
    { label: 'Model', value: p.model },
    { label: 'Provider', value: p.provider },
    { label: 'Kind', value: p.kind },
    { label: 'Input', value: perMillion(p.input_micros_per_mtok) },
    { label: 'Output', value: perMillion(p.output_micros_per_mtok) },
    { label: 'Cached input', value: perMillion(p.cached_input_micros_per_mtok) },
    { label: 'Cache write', value: perMillion(p.cache_write_micros_per_mtok) },
    { label: 'Max output', value: p.max_output_tokens },
    { label: 'Context', value: p.context_window },
    { label: 'Aliases', value: p.aliases.join(', ') },
    {
      label: 'Source',
      value: p.source === 'bundled' ? `bundled (catalog of ${CATALOG_EFFECTIVE_DATE})` : p.source,
    },
    ...(p.status === 'active'
      ? []
      : [
          {
            label: 'Status',
            value: `${lifecycle(p)}; use ${p.replacement}${p.status === 'retired' && p.source === 'bundled' ? ' (refused by the gateway unless you set a price of your own)' : ''}`,
          },
        ]),
  ])
}

const usageCost = (r: UsageRow) =>
  r.unpriced_requests === 0
    ? formatMoney(r.cost_micros)
    : r.unpriced_requests === r.requests
      ? 'unknown'
      : `≥ ${formatMoney(r.cost_micros)} (${r.unpriced_requests} unpriced)`

/**
 * A report for people, piped or not: header row, one row per group and the total (scripts read --json).
 * Piped, it stays tab-separated with full values.
 */
export function printUsage(out: Output, report: UsageReport): void {
  const columns: Column<UsageRow>[] = [
    { header: report.by, value: (r) => r.key },
    { header: 'Requests', value: (r) => r.requests, kind: 'number' },
    { header: 'Input tokens', value: (r) => r.input_tokens, kind: 'number' },
    { header: 'Output tokens', value: (r) => r.output_tokens, kind: 'number' },
    { header: 'Cost', value: usageCost },
  ]
  if (report.rows.length === 0) {
    out.table([], columns, 'No usage in this range, and no agents yet.')
    return
  }
  out.table([...report.rows, report.total], columns, undefined, { headers: true })
}

/** Who acted, as people know them: an agent by its name (the chained event keeps `agent:<id>`). */
const auditActor = (e: AuditEvent) =>
  e.agent_name && e.actor === `agent:${e.agent_id}` ? `agent:${e.agent_name}` : e.actor
/** What the event is about; the agent by its name when it is the event's agent. */
const auditResource = (e: AuditEvent) =>
  e.resource
    ? e.agent_name && e.resource.id === e.agent_id
      ? e.agent_name
      : (e.resource.id ?? e.resource.type)
    : null

export const auditColumns: Column<AuditEvent>[] = [
  { header: 'Seq', value: (e) => e.seq, kind: 'number' },
  { header: 'At', value: (e) => e.at, kind: 'time' },
  { header: 'Actor', value: auditActor, shrink: true },
  { header: 'Action', value: (e) => e.action },
  { header: 'Resource', value: auditResource, shrink: true },
  { header: 'Outcome', value: (e) => e.outcome, kind: 'status' },
  { header: 'ID', value: (e) => e.id, kind: 'id', shrink: false },
]

/**
 * One line per event, for `iron audit tail`, naming agents as `audit list` does; each value is a cell, so
 * none can start a line of its own.
 */
export function auditLine(out: Output, e: AuditEvent): string {
  const d = e.data as Record<string, unknown>
  const resource = auditResource(e) ?? ''
  const detail =
    e.action === 'gateway.request'
      ? `${d.model ?? '-'} ${d.status} ${d.cost_micros !== null && d.cost_micros !== undefined ? formatMoney(Number(d.cost_micros)) : ''}`.trim()
      : e.agent_name && resource !== e.agent_name
        ? `${e.agent_name} ${resource}`.trim()
        : resource
  const when = out.tty ? new Date(e.at).toLocaleTimeString() : e.at
  return `${when}  ${out.cell(e.outcome, 'status')}  ${out.cell(e.action)}  ${out.cell(auditActor(e))}  ${out.cell(detail)}`
}

export function printAuditEvent(out: Output, e: AuditEvent): void {
  out.record([
    { label: 'ID', value: e.id, kind: 'id' },
    { label: 'Seq', value: e.seq },
    { label: 'At', value: e.at, kind: 'time' },
    { label: 'Actor', value: e.actor },
    { label: 'Action', value: e.action },
    { label: 'Resource', value: e.resource ? `${e.resource.type} ${e.resource.id ?? ''}`.trim() : null },
    { label: 'Agent', value: e.agent_id && e.agent_name ? `${e.agent_name} (${e.agent_id})` : e.agent_id },
    { label: 'Outcome', value: e.outcome, kind: 'status' },
    { label: 'Hash', value: e.hash },
    { label: 'Prev hash', value: e.prev_hash },
  ])
  out.line()
  out.line(JSON.stringify(e.data, null, 2))
}

export const findingColumns: Column<SafetyFindingView>[] = [
  { header: 'Category', value: (f) => f.category },
  { header: 'Action', value: (f) => f.action, kind: 'status' },
  { header: 'At', value: (f) => `${f.start}-${f.end}` },
  { header: 'Confidence', value: (f) => f.confidence.toFixed(2) },
  { header: 'SHA-256', value: (f) => f.sha256.slice(0, 16), shrink: true },
  { header: 'Why', value: (f) => f.reasons?.join('; '), shrink: true },
]

export function printPolicy(out: Output, view: SafetyPolicyView): void {
  const categories = Object.keys(view.policy.input) as Array<keyof typeof view.policy.input>
  out.table(
    categories.map((c) => ({ category: c, input: view.policy.input[c], output: view.policy.output[c] })),
    [
      { header: 'Category', value: (r) => r.category },
      { header: 'Input', value: (r) => r.input, kind: 'status' },
      { header: 'Output', value: (r) => r.output, kind: 'status' },
    ],
  )
  out.note(
    `Prompt-injection threshold ${view.policy.injection_threshold}; ${view.agent ? `agent ${view.agent}: default plus ${view.agent_policy ? 'its own changes' : 'no changes of its own'}` : 'the default policy'}`,
  )
}

const demoColumns: Column<DemoAgentSummary>[] = [
  { header: 'Agent', value: (a) => a.agent },
  { header: 'Requests', value: (a) => a.requests, kind: 'number' },
  { header: 'OK', value: (a) => a.ok, kind: 'number' },
  { header: 'Over budget', value: (a) => a.refused_budget, kind: 'number' },
  { header: 'Blocked', value: (a) => a.blocked_safety, kind: 'number' },
  { header: 'Spent', value: (a) => a.spent_micros, kind: 'money' },
  { header: 'Limit', value: (a) => a.limit_micros, kind: 'money' },
]

const times = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`

/** What happened to one demo agent, in a sentence. */
export function demoSentence(a: DemoAgentSummary): string {
  const limit = a.limit_micros === null ? 'no limit' : `its ${formatMoney(a.limit_micros)} limit`
  const spent = `${formatMoney(a.spent_micros)} of ${limit}`
  const parts: string[] = []
  if (a.refused_budget > 0)
    parts.push(
      `${a.agent} ran out of budget: with ${spent} spent, what was left could not cover a request's worst case, so ${times(a.refused_budget, 'request')} ${a.refused_budget === 1 ? 'was' : 'were'} refused (402 budget_exceeded) before reaching the provider.`,
    )
  if (a.blocked_safety > 0) {
    const what = a.blocked_categories.length
      ? ` for ${a.blocked_categories.map((c) => c.replaceAll('_', ' ')).join(', ')}`
      : ''
    parts.push(
      `The firewall blocked ${times(a.blocked_safety, 'request')} of ${a.agent}${what}; nothing was sent to the provider or charged for ${a.blocked_safety === 1 ? 'it' : 'them'}.`,
    )
  }
  if (parts.length === 0)
    parts.push(`${a.agent} made ${times(a.ok, 'request')} and stayed within budget: ${spent}.`)
  if (a.other_errors > 0) parts.push(`${times(a.other_errors, 'other request')} of ${a.agent} failed.`)
  return parts.join(' ')
}

/** The demo's summary is for people, piped or not: a table with its header, then a sentence per agent. */
export function printDemoSummary(out: Output, summary: DemoSummary): void {
  out.table(summary.agents, demoColumns, 'No agents ran.', { headers: true })
  out.line()
  for (const agent of summary.agents) out.line(demoSentence(agent))
}

/** Budget change requests: what was asked (and what the limit was), by whom, and what became of it. */
const requestedLimit = (micros: number | null) => (micros === null ? 'no limit' : budgetMoney(micros))

export const budgetRequestColumns: Column<BudgetRequest>[] = [
  { header: 'Agent', value: (r) => r.agent_name },
  { header: 'Limit', value: (r) => requestedLimit(r.limit_micros), kind: 'money' },
  { header: 'Was', value: (r) => requestedLimit(r.previous_limit_micros), kind: 'money' },
  { header: 'Status', value: (r) => r.status, kind: 'status' },
  { header: 'Requested by', value: (r) => r.requested_by },
  { header: 'Created', value: (r) => r.created_at, kind: 'time' },
  { header: 'Reason', value: (r) => r.reason, shrink: true },
  { header: 'ID', value: (r) => r.id, kind: 'id', shrink: false },
]

export function printBudgetRequest(out: Output, r: BudgetRequest): void {
  out.record([
    { label: 'ID', value: r.id, kind: 'id' },
    { label: 'Agent', value: r.agent_name },
    { label: 'Status', value: r.status, kind: 'status' },
    {
      label: 'Limit',
      value: `${requestedLimit(r.limit_micros)} (was ${requestedLimit(r.previous_limit_micros)})`,
    },
    { label: 'Reason', value: r.reason },
    { label: 'Requested by', value: r.requested_by },
    { label: 'Created', value: r.created_at, kind: 'time' },
    ...(r.decided_at
      ? [
          { label: 'Decided by', value: r.decided_by },
          { label: 'Decided', value: r.decided_at, kind: 'time' as const },
        ]
      : []),
    ...(r.decision_note ? [{ label: 'Note', value: r.decision_note }] : []),
  ])
}

/** Users and API tokens (team mode). */

export const userColumns: Column<User>[] = [
  { header: 'Name', value: (u) => u.name },
  { header: 'Role', value: (u) => u.role },
  {
    header: 'Status',
    value: (u) => (u.locked_until && u.status === 'active' ? 'locked' : u.status),
    kind: 'status',
  },
  { header: 'Display name', value: (u) => u.display_name || null, shrink: true },
  { header: 'Last login', value: (u) => u.last_login_at, kind: 'time' },
  { header: 'ID', value: (u) => u.id, kind: 'id', shrink: false },
]

export function printUser(out: Output, u: User): void {
  out.record([
    { label: 'Name', value: u.name },
    { label: 'ID', value: u.id, kind: 'id' },
    { label: 'Role', value: u.role },
    { label: 'Status', value: u.status, kind: 'status' },
    { label: 'Display name', value: u.display_name || null },
    { label: 'Email', value: u.email },
    { label: 'Password', value: u.has_password ? 'set' : 'none (API tokens only)' },
    ...(u.locked_until ? [{ label: 'Locked until', value: u.locked_until, kind: 'time' as const }] : []),
    { label: 'Last login', value: u.last_login_at ?? 'never', kind: 'time' },
    { label: 'Created', value: u.created_at, kind: 'time' },
    ...(u.deleted_at ? [{ label: 'Deleted', value: u.deleted_at, kind: 'time' as const }] : []),
  ])
}

export const apiTokenColumns: Column<ApiToken>[] = [
  { header: 'Name', value: (t) => t.name, shrink: true },
  { header: 'User', value: (t) => t.user_name },
  { header: 'Role', value: (t) => t.role },
  { header: 'Prefix', value: (t) => `${t.prefix}…` },
  { header: 'Status', value: (t) => t.status, kind: 'status' },
  { header: 'Expires', value: (t) => t.expires_at ?? 'never', kind: 'time' },
  { header: 'Last used', value: (t) => t.last_used_at, kind: 'time' },
  { header: 'ID', value: (t) => t.id, kind: 'id', shrink: false },
]

export function printApiToken(out: Output, t: ApiToken): void {
  out.record([
    { label: 'ID', value: t.id, kind: 'id' },
    { label: 'Name', value: t.name },
    { label: 'User', value: t.user_name },
    { label: 'Role', value: t.role },
    { label: 'Prefix', value: `${t.prefix}…` },
    { label: 'Status', value: t.status, kind: 'status' },
    { label: 'Created', value: t.created_at, kind: 'time' },
    { label: 'Expires', value: t.expires_at ?? 'never', kind: 'time' },
    { label: 'Last used', value: t.last_used_at, kind: 'time' },
    ...(t.revoked_at ? [{ label: 'Revoked', value: t.revoked_at, kind: 'time' as const }] : []),
  ])
}

/** Agents' owners show only where some agent has one (the local store's have none). */
export const agentColumnsFor = (agents: readonly Agent[]): Column<Agent>[] =>
  agents.some((a) => a.owner !== null)
    ? [
        ...agentColumns.slice(0, 2),
        { header: 'Owner', value: (a) => a.owner ?? 'team' },
        ...agentColumns.slice(2),
      ]
    : agentColumns

/** `iron db copy`: rows copied per table, then what was verified on the target (or what differs). */
export function printDbCopy(out: Output, r: DbCopyResult): void {
  out.line(`Copied ${r.from} (schema v${r.schema}) to PostgreSQL ${r.version} at ${r.to}`)
  out.table(
    r.tables,
    [
      { header: 'Table', value: (t) => t.name },
      { header: 'Rows', value: (t) => t.rows, kind: 'number' },
    ],
    'No tables.',
    { headers: true },
  )
  const v = r.verified
  if (v.ok) {
    const head = v.audit_head ? `head ${v.audit_head.seq}:${v.audit_head.hash.slice(0, 12)}` : 'empty'
    out.line(
      `${out.color.green('✓')} verified: ${v.tables} tables, ledger balances of ${v.budgets} budgets, audit chain of ${v.audit_events} events (${head})`,
    )
    return
  }
  out.line(`${out.color.red('✗')} the copy does not match the source:`)
  for (const problem of v.problems) out.line(`${out.color.red('✗')} ${problem}`)
}
