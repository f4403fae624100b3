import { z } from 'zod'
import { PERIODS } from '../core/periods.js'
import { ACTIONS, CATEGORIES } from '../safety/types.js'

/**
 * The shapes `iron serve` speaks, as zod schemas: what requests must look like (validated, every problem at
 * once) and what the services return (documented in the OpenAPI document, which a test checks real answers
 * against). Request schemas check types and sizes; what a value means (a name's form, a model's price) is the
 * services' to judge, so a command fails with the same code locally and against a server.
 */

// ---- Building blocks -------------------------------------------------------------------------------------

const iso = z.iso.datetime()
const isoOrNull = iso.nullable()
const micros = z.number().int()
/** A name or an ID in a path, URL-decoded. */
export const ref = z.string().min(1).max(200)
/** Free text a person types (names, reasons, notes): bounded. */
const text = (max: number) => z.string().max(max)
const names = z.array(z.string().max(200)).max(500)
const role = z.enum(['admin', 'user', 'viewer'])

/** `true`/`false` (or `1`/`0`) in a query string. */
export const queryBool = z
  .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1')

/** A whole number in a query string, within bounds. */
export const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,16}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .describe(`a whole number from ${min} to ${max}`)

/** An ISO-8601 time (`2026-03-01`, `2026-03-01T12:00:00Z`, with an offset) in a query string → epoch ms. */
export const queryTime = z
  .string()
  .max(40)
  .regex(
    /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i,
    'must be an ISO-8601 date or time, such as 2026-03-01 or 2026-03-01T12:00:00Z',
  )
  .transform((v, ctx) => {
    // A date alone, or a time without a zone, is UTC (the wire is UTC).
    const normalized = /^\d{4}-\d{2}-\d{2}$/.test(v)
      ? `${v}T00:00:00Z`
      : /(?:Z|[+-]\d{2}:?\d{2})$/i.test(v)
        ? v
        : `${v}Z`
    const ms = Date.parse(normalized.replace(' ', 'T'))
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'is not a real date or time' })
      return z.NEVER
    }
    return ms
  })

/** The query of every list: a page size and the opaque cursor of the page before. */
export const pageQuery = {
  limit: queryInt(1, 500).optional(),
  cursor: z.string().min(1).max(512).optional(),
}

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() })

// ---- Agents and IC tokens ----------------------------------------------------------------------------------

const TokenSummary = z.object({
  id: z.string(),
  prefix: z.string(),
  created_at: iso,
  expires_at: isoOrNull,
  last_used_at: isoOrNull,
})

export const Agent = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    project: z.string().nullable(),
    allowed_providers: z.array(z.string()),
    allowed_models: z.array(z.string()),
    rate_limits: z.object({
      requests_per_minute: z.number().int().nullable(),
      tokens_per_minute: z.number().int().nullable(),
    }),
    safety_policy: z.record(z.string(), z.unknown()).nullable(),
    status: z.enum(['active', 'suspended', 'deleted']),
    /** The user who owns it; null: the team's (admins manage it). */
    owner: z.string().nullable(),
    created_at: iso,
    updated_at: iso,
    deleted_at: isoOrNull,
    token: TokenSummary.nullable(),
  })
  .meta({ id: 'Agent' })

const agentFields = {
  description: text(2000).optional(),
  project: z.string().max(200).nullable().optional(),
  allowed_providers: names.optional(),
  allowed_models: names.optional(),
  requests_per_minute: z.number().int().nullable().optional(),
  tokens_per_minute: z.number().int().nullable().optional(),
  safety_policy: z.unknown().optional(),
  owner: z.string().max(200).nullable().optional(),
}

export const AgentInput = z.strictObject({ name: z.string().max(200), ...agentFields }).meta({
  id: 'AgentInput',
})
export const AgentUpdate = z
  .strictObject({
    name: z.string().max(200).optional(),
    ...agentFields,
    status: z.enum(['active', 'suspended']).optional(),
  })
  .meta({ id: 'AgentUpdate' })

export const AgentDeleteResult = z
  .object({ agent: Agent, revoked_token: z.string().nullable() })
  .meta({ id: 'AgentDeleteResult' })

export const IcToken = z
  .object({
    id: z.string(),
    agent_id: z.string(),
    agent_name: z.string(),
    /** `agent`: the agent's own, one live at a time; `run`: minted for one `iron run`, ended with it. */
    kind: z.enum(['agent', 'run']),
    prefix: z.string(),
    status: z.enum(['live', 'expired', 'revoked']),
    created_at: iso,
    expires_at: isoOrNull,
    revoked_at: isoOrNull,
    revoke_reason: z.string().nullable(),
    last_used_at: isoOrNull,
  })
  .meta({ id: 'IcToken' })

export const IssuedToken = IcToken.extend({
  /** The secret: shown once, here. */
  token: z.string(),
}).meta({ id: 'IssuedToken' })

/** Up to ten years, in milliseconds. */
export const TokenExpiry = z.strictObject({
  expires_in_ms: z
    .number()
    .int()
    .min(1)
    .max(10 * 366 * 86_400_000)
    .optional(),
})

// ---- Providers ---------------------------------------------------------------------------------------------

const providerKind = z.enum(['openai', 'anthropic', 'openai-compatible', 'mock'])

export const Provider = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: providerKind,
    base_url: z.string().nullable(),
    key_mask: z.string().nullable(),
    description: z.string(),
    created_at: iso,
    updated_at: iso,
    last_test: z.object({ at: iso, ok: z.boolean(), note: z.string() }).nullable(),
  })
  .meta({ id: 'Provider' })

export const ProviderInput = z
  .strictObject({
    name: z.string().max(200),
    kind: providerKind,
    base_url: z.string().max(2000).nullable().optional(),
    api_key: z.string().max(10_000).nullable().optional(),
    description: text(2000).optional(),
  })
  .meta({ id: 'ProviderInput' })

export const ProviderUpdate = z
  .strictObject({
    base_url: z.string().max(2000).nullable().optional(),
    api_key: z.string().max(10_000).optional(),
    description: text(2000).optional(),
  })
  .meta({ id: 'ProviderUpdate' })

export const ProviderTestResult = z
  .object({
    provider: z.string(),
    ok: z.boolean(),
    status: z.number().int().nullable(),
    latency_ms: z.number(),
    models: z.number().int().nullable(),
    note: z.string(),
  })
  .meta({ id: 'ProviderTestResult' })

// ---- Budgets, the ledger and budget requests ---------------------------------------------------------------

const ledgerTotals = z.object({
  spent_micros: micros,
  reserved_micros: micros,
  leased_micros: micros,
})

export const Budget = z
  .object({
    agent_id: z.string(),
    agent_name: z.string(),
    limit_micros: micros.nullable(),
    /** The highest limit the agent's owner may set (what an admin set or approved). */
    granted_limit_micros: micros.nullable().optional(),
    period: z.enum(PERIODS),
    timezone: z.string(),
    on_insufficient: z.enum(['reject', 'clamp']),
    alert_thresholds: z.array(z.number()),
    period_start: isoOrNull,
    period_end: isoOrNull,
    spent_micros: micros,
    in_flight_micros: micros,
    reserved_micros: micros,
    leased_micros: micros,
    remaining_micros: micros.nullable(),
    used_pct: z.number().nullable(),
    updated_at: iso,
  })
  .meta({ id: 'Budget' })

export const BudgetInput = z
  .strictObject({
    limit_micros: z.number().int().nullable().optional(),
    period: z.string().max(40).optional(),
    timezone: z.string().max(100).optional(),
    on_insufficient: z.string().max(40).optional(),
    alert_thresholds: z.array(z.number()).max(100).optional(),
    allow_below_spend: z.boolean().optional(),
  })
  .meta({ id: 'BudgetInput' })

export const LedgerVerification = z
  .object({
    ok: z.boolean(),
    rows: z.number().int(),
    derived: ledgerTotals,
    cached: ledgerTotals,
    problems: z.array(z.string()),
  })
  .meta({ id: 'LedgerVerification' })

export const BudgetCheck = z
  .object({
    budget: Budget,
    over: z.boolean(),
    burn_rate_micros_per_hour: z.number(),
    projected_period_spend_micros: z.number().nullable(),
    exhausted_at: isoOrNull,
    verify: LedgerVerification.optional(),
  })
  .meta({ id: 'BudgetCheck' })

export const LedgerEntry = z
  .object({
    seq: z.number().int(),
    kind: z.enum(['reserve', 'commit', 'release', 'adjust', 'lease_grant', 'lease_return']),
    reservation_id: z.string().nullable(),
    spent_delta_micros: micros,
    reserved_delta_micros: micros,
    leased_delta_micros: micros,
    at: iso,
    counted_at: iso,
    model: z.string().nullable(),
    provider: z.string().nullable(),
    input_tokens: z.number().int().nullable(),
    output_tokens: z.number().int().nullable(),
    cost_known: z.boolean().nullable(),
    overrun_micros: micros.nullable(),
    note: z.string().nullable(),
  })
  .meta({ id: 'LedgerEntry' })

export const BudgetAdjust = z
  .strictObject({ amount_micros: z.number().int(), reason: text(2000) })
  .meta({ id: 'BudgetAdjust' })

const budgetRequestStatus = z.enum(['pending', 'approved', 'rejected', 'cancelled'])

export const BudgetRequest = z
  .object({
    id: z.string(),
    agent_id: z.string(),
    agent_name: z.string(),
    requested_by: z.string(),
    limit_micros: micros.nullable(),
    previous_limit_micros: micros.nullable(),
    reason: z.string(),
    status: budgetRequestStatus,
    decided_by: z.string().nullable(),
    decided_at: isoOrNull,
    decision_note: z.string().nullable(),
    created_at: iso,
  })
  .meta({ id: 'BudgetRequest' })

export const BudgetRequestInput = z
  .strictObject({
    agent: ref,
    limit_micros: z.number().int().nullable(),
    reason: text(2000),
  })
  .meta({ id: 'BudgetRequestInput' })

export const BudgetRequestStatus = budgetRequestStatus

export const Decision = z.strictObject({ note: text(2000).optional() }).meta({ id: 'Decision' })

// ---- Pricing and usage -------------------------------------------------------------------------------------

export const ModelPriceView = z
  .object({
    model: z.string(),
    provider: z.string(),
    kind: z.enum(['chat', 'embedding']),
    input_micros_per_mtok: micros,
    output_micros_per_mtok: micros,
    cached_input_micros_per_mtok: micros.nullable(),
    cache_write_micros_per_mtok: micros.nullable(),
    max_output_tokens: z.number().int(),
    context_window: z.number().int(),
    aliases: z.array(z.string()),
    source: z.enum(['override', 'bundled']),
    status: z.enum(['active', 'deprecated', 'retired']),
    retires_on: z.string().nullable(),
    replacement: z.string().nullable(),
  })
  .meta({ id: 'ModelPrice' })

export const PriceInput = z
  .strictObject({
    provider: z.string().max(100).optional(),
    kind: z.enum(['chat', 'embedding']).optional(),
    input_micros_per_mtok: z.number().int().optional(),
    output_micros_per_mtok: z.number().int().optional(),
    cached_input_micros_per_mtok: z.number().int().nullable().optional(),
    cache_write_micros_per_mtok: z.number().int().nullable().optional(),
    max_output_tokens: z.number().int().optional(),
    context_window: z.number().int().optional(),
  })
  .meta({ id: 'PriceInput' })

export const PriceUnset = z
  .object({ model: z.string(), removed: z.boolean(), now: ModelPriceView.nullable() })
  .meta({ id: 'PriceUnset' })

const UsageRow = z.object({
  key: z.string(),
  requests: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cost_micros: micros,
  unpriced_requests: z.number().int(),
})

export const UsageReport = z
  .object({
    by: z.enum(['agent', 'model', 'provider', 'project', 'day']),
    since: isoOrNull,
    until: isoOrNull,
    rows: z.array(UsageRow),
    total: UsageRow,
  })
  .meta({ id: 'UsageReport' })

// ---- Audit -------------------------------------------------------------------------------------------------

export const AuditEvent = z
  .object({
    id: z.string(),
    seq: z.number().int(),
    at: iso,
    actor: z.string(),
    action: z.string(),
    resource: z.object({ type: z.string(), id: z.string().nullable() }).nullable(),
    agent_id: z.string().nullable(),
    agent_name: z.string().nullable().optional(),
    outcome: z.enum(['success', 'failure', 'denied']),
    data: z.record(z.string(), z.unknown()),
    prev_hash: z.string(),
    hash: z.string(),
  })
  .meta({ id: 'AuditEvent' })

/** The filters of audit list, count and export. */
export const auditFilters = {
  agent: ref.optional(),
  actor: z.string().max(200).optional(),
  action: z.string().max(200).optional(),
  outcome: z.enum(['success', 'failure', 'denied']).optional(),
  since: queryTime.optional(),
  until: queryTime.optional(),
}

const headRef = z.object({ seq: z.number().int(), hash: z.string() })

export const AuditVerification = z
  .object({
    ok: z.boolean(),
    events: z.number().int(),
    head: headRef.nullable(),
    witness: z.string().nullable(),
    expected_head: headRef.extend({ ok: z.boolean() }).nullable(),
    first_broken: z.object({ seq: z.number().int(), id: z.string(), reason: z.string() }).nullable(),
    pruned: z
      .object({
        events: z.number().int(),
        through_seq: z.number().int(),
        first_at: isoOrNull,
        last_at: isoOrNull,
      })
      .nullable(),
    checkpoints: z.number().int(),
    problems: z.array(z.string()),
  })
  .meta({ id: 'AuditVerification' })

export const AuditPruneResult = z
  .object({
    pruned: z.number().int(),
    through_seq: z.number().int(),
    first_at: isoOrNull,
    last_at: isoOrNull,
    head_hash: z.string(),
  })
  .meta({ id: 'AuditPruneResult' })

// ---- Safety ------------------------------------------------------------------------------------------------

const action = z.enum(ACTIONS)
const categoryActions = z.record(z.enum(CATEGORIES), action)
const partialActions = z.partialRecord(z.string(), action)

const PartialSafetyPolicy = z.object({
  input: partialActions.optional(),
  output: partialActions.optional(),
  injection_threshold: z.number().optional(),
})

export const SafetyPolicyView = z
  .object({
    agent: z.string().nullable(),
    policy: z.object({
      input: categoryActions,
      output: categoryActions,
      injection_threshold: z.number(),
    }),
    store_default: PartialSafetyPolicy,
    agent_policy: PartialSafetyPolicy.nullable(),
  })
  .meta({ id: 'SafetyPolicyView' })

export const SafetyPolicyChange = z
  .strictObject({ change: z.unknown(), replace: z.boolean().optional() })
  .meta({ id: 'SafetyPolicyChange' })

export const SafetyScanInput = z
  .strictObject({
    text: z.string(),
    direction: z.enum(['input', 'output']).optional(),
    agent: ref.optional(),
  })
  .meta({ id: 'SafetyScanInput' })

export const SafetyScanResult = z
  .object({
    direction: z.enum(['input', 'output']),
    agent: z.string().nullable(),
    bytes: z.number().int(),
    findings: z.array(
      z.object({
        category: z.string(),
        action: z.string(),
        start: z.number().int(),
        end: z.number().int(),
        confidence: z.number(),
        sha256: z.string(),
        reasons: z.array(z.string()).optional(),
      }),
    ),
    blocked: z.array(z.string()),
    redacted: z.array(z.string()),
    logged: z.array(z.string()),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    redacted_text: z.string().nullable(),
  })
  .meta({ id: 'SafetyScanResult' })

// ---- People: users, sessions, API tokens -------------------------------------------------------------------

export const User = z
  .object({
    id: z.string(),
    name: z.string(),
    display_name: z.string(),
    email: z.string().nullable(),
    role,
    status: z.enum(['active', 'suspended', 'deleted']),
    has_password: z.boolean(),
    locked_until: isoOrNull,
    last_login_at: isoOrNull,
    created_at: iso,
    updated_at: iso,
    deleted_at: isoOrNull,
  })
  .meta({ id: 'User' })

export const UserInput = z
  .strictObject({
    name: z.string().max(200),
    role: role.optional(),
    display_name: text(200).optional(),
    email: z.string().max(320).nullable().optional(),
    password: z.string().max(1024).optional(),
  })
  .meta({ id: 'UserInput' })

export const UserUpdate = z
  .strictObject({
    display_name: text(200).optional(),
    email: z.string().max(320).nullable().optional(),
    role: role.optional(),
  })
  .meta({ id: 'UserUpdate' })

export const PasswordReset = z.strictObject({ password: z.string().max(1024) }).meta({ id: 'PasswordReset' })

export const LoginInput = z
  .strictObject({ name: z.string().max(200), password: z.string().max(1024) })
  .meta({ id: 'LoginInput' })

export const LoginResult = z
  .object({
    /** The session secret (`iron_st_…`): shown once, here. */
    token: z.string(),
    expires_at: iso,
    user: User,
  })
  .meta({ id: 'LoginResult' })

export const Whoami = z
  .object({
    mode: z.enum(['local', 'server']),
    server: z.string().nullable(),
    actor: z.string(),
    role,
    user: User.nullable(),
    via: z.enum(['local', 'session', 'api_token']),
    expires_at: isoOrNull,
  })
  .meta({ id: 'Whoami' })

export const ApiToken = z
  .object({
    id: z.string(),
    user_id: z.string(),
    user_name: z.string(),
    name: z.string(),
    role,
    prefix: z.string(),
    status: z.enum(['live', 'expired', 'revoked']),
    created_at: iso,
    expires_at: isoOrNull,
    last_used_at: isoOrNull,
    revoked_at: isoOrNull,
  })
  .meta({ id: 'ApiToken' })

export const IssuedApiToken = ApiToken.extend({
  /** The secret (`iron_at_…`): shown once, here. */
  token: z.string(),
}).meta({ id: 'IssuedApiToken' })

export const ApiTokenInput = z
  .strictObject({
    name: z.string().max(200),
    user: ref.optional(),
    role: role.optional(),
    expires_in_ms: z
      .number()
      .int()
      .min(1)
      .max(10 * 366 * 86_400_000)
      .optional(),
  })
  .meta({ id: 'ApiTokenInput' })

// ---- The server itself -------------------------------------------------------------------------------------

export const Health = z
  .object({
    status: z.literal('ok'),
    version: z.string(),
    store: z.enum(['sqlite', 'postgresql']),
    schema_version: z.number().int(),
  })
  .meta({ id: 'Health' })

export const Empty = z.strictObject({})
