/**
 * Types of the offline safety firewall (SPEC §7): what it finds (categories), what it reports (findings, never
 * the matched value: only its position and SHA-256) and what a policy does with each category.
 */

/** Personal data. */
export const PII_CATEGORIES = ['email', 'phone', 'ssn', 'card', 'iban', 'ip_address'] as const
/** Credentials. */
export const SECRET_CATEGORIES = [
  'openai_key',
  'anthropic_key',
  'aws_access_key',
  'github_token',
  'gitlab_token',
  'slack_token',
  'stripe_key',
  'google_api_key',
  'private_key',
  'jwt',
  'iron_token',
  'generic_secret',
] as const
/** Attempts to steer the model against its instructions. */
export const INJECTION_CATEGORIES = ['prompt_injection'] as const

export const CATEGORIES = [...PII_CATEGORIES, ...SECRET_CATEGORIES, ...INJECTION_CATEGORIES] as const
export type PiiCategory = (typeof PII_CATEGORIES)[number]
export type SecretCategory = (typeof SECRET_CATEGORIES)[number]
export type Category = (typeof CATEGORIES)[number]

export type CategoryGroup = 'pii' | 'secret' | 'injection'
export const CATEGORY_GROUPS: Readonly<Record<CategoryGroup, readonly Category[]>> = {
  pii: PII_CATEGORIES,
  secret: SECRET_CATEGORIES,
  injection: INJECTION_CATEGORIES,
}

const GROUP_OF = new Map<Category, CategoryGroup>()
for (const group of Object.keys(CATEGORY_GROUPS) as CategoryGroup[]) {
  for (const category of CATEGORY_GROUPS[group]) GROUP_OF.set(category, group)
}
export const groupOf = (category: Category): CategoryGroup => GROUP_OF.get(category)!

const CATEGORY_SET: ReadonlySet<string> = new Set(CATEGORIES)
export const isCategory = (value: unknown): value is Category =>
  typeof value === 'string' && CATEGORY_SET.has(value)

/** The placeholder that replaces a redacted value: `[REDACTED:EMAIL]`. No quotes or backslashes, so it is safe
 * inside a JSON string. */
export const redactionLabel = (category: Category): string => `[REDACTED:${category.toUpperCase()}]`

export interface Finding {
  category: Category
  /** UTF-16 offsets of the matched value in the scanned text: [start, end). */
  start: number
  end: number
  /** 0..1. For prompt injection, the weighted score of the heuristics that fired. */
  confidence: number
  /** Lowercase hex SHA-256 of the matched value (UTF-8; lone surrogates count as U+FFFD). Never the value. */
  sha256: string
  /** Why it was flagged (prompt injection: the heuristics that fired). */
  reasons?: string[]
}

/** Prompt-injection score at and above which text is flagged, unless a policy says otherwise. */
export const DEFAULT_INJECTION_THRESHOLD = 0.5

export const ACTIONS = ['block', 'redact', 'log', 'off'] as const
export type Action = (typeof ACTIONS)[number]
export type Direction = 'input' | 'output'

export interface SafetyPolicy {
  /** Prompts going to the provider. */
  input: Record<Category, Action>
  /** Responses coming back to the agent. */
  output: Record<Category, Action>
  /** Prompt-injection score (0..1] at and above which text is flagged. */
  injection_threshold: number
}

/** A finding with the action the policy took on it. */
export interface EvaluatedFinding extends Finding {
  action: Exclude<Action, 'off'>
}

/** Why a scan could not complete; results carrying one are blocked (fail closed). */
export interface SafetyError {
  code: 'SAFETY_DETECTOR_ERROR' | 'SAFETY_BODY_TOO_COMPLEX' | 'SAFETY_INTERNAL'
  message: string
}
