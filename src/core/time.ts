import { usageError } from './errors.js'

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}
/** One or more `<number><unit>` parts (`90s`, `1h30m`, `1.5h`, `250ms`). */
const DURATION_RE = /^(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+$/
const DURATION_PART_RE = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/g
/** A number without a unit: seconds, for a length of time. */
const BARE_SECONDS_RE = /^\d+(?:\.\d+)?$/
const MAX_DURATION_MS = 100 * 365 * 86_400_000

/** ISO-8601 UTC with Z, as on the wire. */
export const toIso = (ms: number): string => new Date(ms).toISOString()

export interface DurationBounds {
  /** Smallest accepted, in ms (default: more than zero). */
  min?: number
  /** Largest accepted, in ms (default: 100 years). */
  max?: number
}

/**
 * Parse a length of time typed by a person into milliseconds: `90s`, `15m`, `1h30m`, `1.5h`, `250ms`, `30d`,
 * `2w`, or a bare number of seconds (`20` is 20 s, as `sleep` and `kubectl --request-timeout` read it).
 * Every duration flag goes through here, so they all read the same way.
 */
export function parseDuration(input: string, what = 'duration', bounds: DurationBounds = {}): number {
  const raw = input.trim().toLowerCase()
  let ms: number
  if (BARE_SECONDS_RE.test(raw)) ms = Number(raw) * 1_000
  else if (DURATION_RE.test(raw)) {
    ms = 0
    for (const [, value, unit] of raw.matchAll(DURATION_PART_RE)) ms += Number(value) * UNITS[unit!]!
  } else {
    throw usageError(
      'INVALID_DURATION',
      `Invalid ${what} '${input}': expected a length of time`,
      'For example 30 (seconds), 90s, 250ms, 15m, 1h30m, 12h, 30d or 2w',
    )
  }
  ms = Math.round(ms)
  const min = bounds.min ?? 1
  const max = Math.min(bounds.max ?? MAX_DURATION_MS, MAX_DURATION_MS)
  if (!Number.isSafeInteger(ms) || ms < min || ms > max) {
    const range =
      min <= 0
        ? `at most ${formatDuration(max)}`
        : min === 1
          ? `more than zero and at most ${formatDuration(max)}`
          : `between ${formatDuration(min)} and ${formatDuration(max)}`
    // `--interval 250` meant as milliseconds reads as 250 s: say how to write what was probably meant.
    const asMs = Number(raw)
    const hint =
      BARE_SECONDS_RE.test(raw) && ms > max && asMs >= min && asMs <= max
        ? `A number alone is seconds; for ${raw} milliseconds write ${raw}ms`
        : undefined
    throw usageError('INVALID_DURATION', `Invalid ${what} '${input}': must be ${range}`, hint)
  }
  return ms
}

/**
 * Parse a point in time typed by a person: an ISO date or date-time (UTC unless it carries an offset),
 * `now`, or a duration with its unit meaning that long ago (`7d`, `90m`). A bare number is refused: as a
 * time it could mean seconds, days or an epoch, and a wrong guess would silently select the wrong range.
 */
export function parseTime(input: string, what = 'time', now: number = Date.now()): number {
  const raw = input.trim()
  if (raw.toLowerCase() === 'now') return now
  if (DURATION_RE.test(raw.toLowerCase())) return now - parseDuration(raw, what)
  if (BARE_SECONDS_RE.test(raw)) {
    throw usageError(
      'INVALID_TIME',
      `Invalid ${what} '${input}': a number alone is ambiguous as a time`,
      `Give its unit for that long ago (${raw}s, ${raw}m, ${raw}h or ${raw}d) or a date (2026-01-31)`,
    )
  }
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(raw)
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(raw)
  const isoLike = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(raw)
  const ms = isoLike
    ? Date.parse(dateOnly ? `${raw}T00:00:00Z` : hasZone ? raw : `${raw.replace(' ', 'T')}Z`)
    : Number.NaN
  if (Number.isNaN(ms)) {
    throw usageError(
      'INVALID_TIME',
      `Invalid ${what} '${input}': expected a date (2026-01-31), a UTC date-time (2026-01-31T09:00:00Z) or a duration ago (7d)`,
    )
  }
  return ms
}

/** "3m ago", "in 2h", "just now" for people in a terminal. */
export function formatRelative(ms: number, now: number = Date.now()): string {
  const delta = ms - now
  const abs = Math.abs(delta)
  if (abs < 45_000) return 'just now'
  const [value, unit] =
    abs < 3_600_000
      ? [Math.round(abs / 60_000), 'm']
      : abs < 86_400_000
        ? [Math.round(abs / 3_600_000), 'h']
        : abs < 60 * 86_400_000
          ? [Math.round(abs / 86_400_000), 'd']
          : [Math.round(abs / (30 * 86_400_000)), 'mo']
  return delta < 0 ? `${value}${unit} ago` : `in ${value}${unit}`
}

/** Human form of a duration in ms: 1d 4h, 3m 20s, 250ms. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`
  const parts: string[] = []
  let rest = Math.round(ms / 1_000)
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`)
      rest %= size
    }
    if (parts.length === 2) break
  }
  return parts.join(' ')
}
