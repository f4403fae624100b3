import type { Detector } from './detectors/detector.js'
import { DEFAULT_POLICY, enabledCategories } from './policy.js'
import { type DetectorFailure, scanDetailed } from './scan.js'
import {
  CATEGORIES,
  type Category,
  type Direction,
  type EvaluatedFinding,
  type Finding,
  redactionLabel,
  type SafetyError,
  type SafetyPolicy,
} from './types.js'

export interface Evaluation {
  /**
   * The text with every `redact` finding replaced by `[REDACTED:<CATEGORY>]`, and every `block` finding too, so
   * the text is safe to store or show even though it must not be forwarded. Empty when the scan failed.
   */
  text: string
  findings: EvaluatedFinding[]
  /** Categories whose action is `block` that were found (or could not be scanned: see `error`). */
  blocked: Category[]
  redacted: Category[]
  logged: Category[]
  /** Set when a detector failed: the result is blocked (fail closed). */
  error?: SafetyError
}

export interface EvaluateOptions {
  /** Replaces the built-in detectors (tests, extensions). */
  detectors?: readonly Detector[]
}

const ordered = (set: Set<Category>): Category[] => CATEGORIES.filter((c) => set.has(c))

/** Replaces spans by their category's label; overlapping spans are merged under the first one's label. */
export function redactSpans(
  text: string,
  spans: readonly { start: number; end: number; category: Category }[],
): string {
  if (spans.length === 0) return text
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end)
  let out = ''
  let pos = 0
  for (const s of sorted) {
    if (s.end <= pos) continue
    if (s.start < pos) {
      pos = s.end // overlaps the previous replacement: swallow the rest into it
      continue
    }
    out += text.slice(pos, s.start) + redactionLabel(s.category)
    pos = s.end
  }
  return out + text.slice(pos)
}

/** Applies a direction's policy to findings. */
export function decide(
  text: string,
  findings: readonly Finding[],
  failures: readonly DetectorFailure[],
  direction: Direction,
  policy: Readonly<SafetyPolicy>,
): Evaluation {
  const actions = policy[direction]
  const blocked = new Set<Category>()
  const redacted = new Set<Category>()
  const logged = new Set<Category>()
  const evaluated: EvaluatedFinding[] = []
  for (const f of findings) {
    const action = actions[f.category]
    if (action === 'off' || action === undefined) continue
    evaluated.push({ ...f, action })
    if (action === 'block') blocked.add(f.category)
    else if (action === 'redact') redacted.add(f.category)
    else logged.add(f.category)
  }
  if (failures.length > 0) {
    for (const failure of failures) for (const c of failure.categories) blocked.add(c)
    return {
      text: '',
      findings: evaluated,
      blocked: ordered(blocked),
      redacted: ordered(redacted),
      logged: ordered(logged),
      error: {
        code: 'SAFETY_DETECTOR_ERROR',
        message: failures.map((f) => `detector ${f.detector} failed: ${f.message}`).join('; '),
      },
    }
  }
  return {
    text: redactSpans(
      text,
      evaluated.filter((f) => f.action === 'redact' || f.action === 'block'),
    ),
    findings: evaluated,
    blocked: ordered(blocked),
    redacted: ordered(redacted),
    logged: ordered(logged),
  }
}

/** A verdict that blocks every category the direction scans for: what an unexpected failure yields. */
export function failClosed(
  direction: Direction,
  policy: Readonly<SafetyPolicy>,
  error: SafetyError,
): Evaluation {
  let blocked: Category[]
  try {
    blocked = [...enabledCategories(policy, direction)]
  } catch {
    blocked = [...CATEGORIES]
  }
  return {
    text: '',
    findings: [],
    blocked: blocked.length > 0 ? blocked : [...CATEGORIES],
    redacted: [],
    logged: [],
    error,
  }
}

/**
 * Scans a text and applies a direction's policy: which categories block, which are redacted in the returned
 * text, which are only logged. Never throws: a failing detector blocks its categories (fail closed), any other
 * failure blocks everything the direction scans for.
 */
export function evaluate(
  text: string,
  direction: Direction,
  policy: Readonly<SafetyPolicy> = DEFAULT_POLICY,
  options: EvaluateOptions = {},
): Evaluation {
  try {
    const categories = enabledCategories(policy, direction)
    if (categories.size === 0) return { text, findings: [], blocked: [], redacted: [], logged: [] }
    const { findings, failures } = scanDetailed(text, {
      categories,
      injectionThreshold: policy.injection_threshold,
      detectors: options.detectors,
    })
    return decide(text, findings, failures, direction, policy)
  } catch (error) {
    return failClosed(direction, policy, {
      code: 'SAFETY_INTERNAL',
      message: `safety scan failed: ${error instanceof Error ? error.message : String(error)}`,
    })
  }
}
