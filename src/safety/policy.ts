import { usageError } from '../core/errors.js'
import {
  ACTIONS,
  type Action,
  CATEGORIES,
  CATEGORY_GROUPS,
  type Category,
  type CategoryGroup,
  DEFAULT_INJECTION_THRESHOLD,
  isCategory,
  type SafetyPolicy,
} from './types.js'

const pii = (sensitive: Action, contact: Action) => ({
  email: contact,
  phone: contact,
  ip_address: contact,
  ssn: sensitive,
  card: sensitive,
  iban: sensitive,
})
const secrets = (action: Action, privateKey: Action) => ({
  openai_key: action,
  anthropic_key: action,
  aws_access_key: action,
  github_token: action,
  gitlab_token: action,
  slack_token: action,
  stripe_key: action,
  google_api_key: action,
  private_key: privateKey,
  jwt: action,
  iron_token: action,
  generic_secret: action,
})

/**
 * The default policy.
 *
 * Input (agent → provider):
 * - Secrets are redacted: the model never needs a live credential to help, and redacting keeps the request
 *   going. Private keys are blocked: a whole key pasted into a prompt is almost always a mistake worth stopping.
 * - Card numbers, SSNs and IBANs are redacted (regulated, never needed verbatim). Emails, phone numbers and IP
 *   addresses are only logged: agents handle them legitimately all the time (support tickets, logs), and
 *   redacting them would break too many tasks.
 * - Prompt injection is blocked: text that tries to override the agent's instructions (often arriving in tool
 *   results or fetched pages) should not reach the model.
 * Output (provider → agent):
 * - Secrets, private keys included, are redacted (a block would cut the stream off mid-answer; the agent gets
 *   the rest of the answer and the finding is audited).
 * - Cards, SSNs and IBANs are redacted; emails, phones and IPs logged, as on input.
 * - Prompt injection is logged: a model's answer that looks like an injection is worth auditing, but it is
 *   often the model quoting or discussing one.
 */
export const DEFAULT_POLICY: Readonly<SafetyPolicy> = Object.freeze({
  input: Object.freeze({ ...pii('redact', 'log'), ...secrets('redact', 'block'), prompt_injection: 'block' }),
  output: Object.freeze({ ...pii('redact', 'log'), ...secrets('redact', 'redact'), prompt_injection: 'log' }),
  injection_threshold: DEFAULT_INJECTION_THRESHOLD,
}) as Readonly<SafetyPolicy>

/** A policy change: any subset of categories (or groups: `pii`, `secret`, `injection`, `all`) per direction. */
export interface PartialSafetyPolicy {
  input?: Partial<Record<Category | CategoryGroup | 'all', Action>>
  output?: Partial<Record<Category | CategoryGroup | 'all', Action>>
  injection_threshold?: number
}

const GROUP_ALIASES: Record<string, readonly Category[]> = {
  all: CATEGORIES,
  pii: CATEGORY_GROUPS.pii,
  secret: CATEGORY_GROUPS.secret,
  secrets: CATEGORY_GROUPS.secret,
  injection: CATEGORY_GROUPS.injection,
}
const TOP_LEVEL_KEYS = ['input', 'output', 'injection_threshold']
const HINT = `Policy keys: input, output, injection_threshold. Categories: ${CATEGORIES.join(', ')} (or the groups all, pii, secret, injection). Actions: ${ACTIONS.join(', ')}.`

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return row[b.length]!
}

function suggest(value: string, options: readonly string[]): string {
  let best = ''
  let distance = Number.POSITIVE_INFINITY
  for (const o of options) {
    const d = levenshtein(value.toLowerCase(), o)
    if (d < distance) {
      best = o
      distance = d
    }
  }
  return distance <= Math.max(2, Math.floor(value.length / 3)) ? ` Did you mean '${best}'?` : ''
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function parseActions(direction: 'input' | 'output', value: unknown): Partial<Record<Category, Action>> {
  if (!isPlainObject(value)) {
    throw usageError(
      'SAFETY_POLICY_INVALID',
      `Safety policy '${direction}' must be an object of category: action, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
      HINT,
    )
  }
  const groups: Partial<Record<Category, Action>> = {}
  const specific: Partial<Record<Category, Action>> = {}
  let all: Action | undefined
  for (const [key, action] of Object.entries(value)) {
    const where = `${direction}.${key}`
    if (!isCategory(key) && !(key in GROUP_ALIASES)) {
      throw usageError(
        'SAFETY_POLICY_INVALID',
        `Unknown category '${key}' in safety policy '${direction}'.${suggest(key, [...CATEGORIES, ...Object.keys(GROUP_ALIASES)])}`,
        HINT,
        { key: where },
      )
    }
    if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) {
      throw usageError(
        'SAFETY_POLICY_INVALID',
        `Invalid action ${JSON.stringify(action) ?? String(action)} for '${where}': expected one of ${ACTIONS.join(', ')}.${typeof action === 'string' ? suggest(action, ACTIONS) : ''}`,
        HINT,
        { key: where },
      )
    }
    const a = action as Action
    if (key === 'all') all = a
    else if (isCategory(key)) specific[key] = a
    else for (const c of GROUP_ALIASES[key]!) groups[c] = a
  }
  // `all` < groups < single categories, whatever the order they were written in.
  const result: Partial<Record<Category, Action>> = {}
  if (all) for (const c of CATEGORIES) result[c] = all
  return Object.assign(result, groups, specific)
}

function parseThreshold(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw usageError(
      'SAFETY_POLICY_INVALID',
      `Invalid injection_threshold ${JSON.stringify(value) ?? String(value)}: expected a number greater than 0 and at most 1`,
      'The default is 0.5; higher flags less, lower flags more.',
      { key: 'injection_threshold' },
    )
  }
  return value
}

/** Validates a policy change (parsed JSON or a JSON string) without applying it. */
export function parsePartialPolicy(json: unknown): PartialSafetyPolicy {
  let value = json
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value)
    } catch (error) {
      throw usageError(
        'SAFETY_POLICY_INVALID',
        `Safety policy is not valid JSON: ${(error as Error).message}`,
        'Write it as {"input": {"email": "redact"}, "output": {...}, "injection_threshold": 0.5}',
      )
    }
  }
  if (value === undefined || value === null) return {}
  if (!isPlainObject(value)) {
    throw usageError(
      'SAFETY_POLICY_INVALID',
      `Safety policy must be a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`,
      HINT,
    )
  }
  const partial: PartialSafetyPolicy = {}
  for (const [key, v] of Object.entries(value)) {
    if (key === 'input' || key === 'output') partial[key] = parseActions(key, v)
    else if (key === 'injection_threshold') partial.injection_threshold = parseThreshold(v)
    else {
      throw usageError(
        'SAFETY_POLICY_INVALID',
        `Unknown safety policy key '${key}'.${suggest(key, TOP_LEVEL_KEYS)}`,
        HINT,
        { key },
      )
    }
  }
  return partial
}

/** Applies a policy change to a base policy; returns a new policy. Group keys expand to their categories. */
export function mergePolicy(base: Readonly<SafetyPolicy>, partial: PartialSafetyPolicy): SafetyPolicy {
  const checked = parsePartialPolicy(partial)
  return {
    input: { ...base.input, ...(checked.input as Partial<Record<Category, Action>>) },
    output: { ...base.output, ...(checked.output as Partial<Record<Category, Action>>) },
    injection_threshold: checked.injection_threshold ?? base.injection_threshold,
  }
}

/**
 * Parses and validates a per-agent policy (parsed JSON, or a JSON string); missing keys take their values from
 * `base` (DEFAULT_POLICY unless given). Throws a usage error (SAFETY_POLICY_INVALID) naming the bad key or value.
 */
export function parsePolicy(json: unknown, base: Readonly<SafetyPolicy> = DEFAULT_POLICY): SafetyPolicy {
  return mergePolicy(base, parsePartialPolicy(json))
}

const enabledCache = new WeakMap<object, ReadonlySet<Category>>()

/**
 * Categories a direction does not switch off (the ones worth scanning for). Remembered per policy side (a
 * gateway asks for the same agent's policy on every request); policies are not changed in place.
 */
export function enabledCategories(
  policy: Readonly<SafetyPolicy>,
  direction: 'input' | 'output',
): ReadonlySet<Category> {
  const actions = policy[direction]
  let enabled = enabledCache.get(actions)
  if (!enabled) {
    enabled = new Set(CATEGORIES.filter((c) => actions[c] !== 'off'))
    enabledCache.set(actions, enabled)
  }
  return enabled
}
