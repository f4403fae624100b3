import { usageError } from './errors.js'

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
const DURATION_RE = /^(\d+)\s*([smhdw])$/

/** ISO-8601 UTC with Z, as on the wire. */
export const toIso = (ms: number): string => new Date(ms).toISOString()

/** Parse `30d`, `12h`, `15m`, `90s`, `2w` into milliseconds. */
export function parseDuration(input: string, what = 'duration'): number {
  const raw = input.trim().toLowerCase()
  const match = DURATION_RE.exec(raw)
  if (!match) {
    throw usageError(
      'INVALID_DURATION',
      `Invalid ${what} '${input}': expected a number and a unit (s, m, h, d, w)`,
      'For example 90s, 15m, 12h, 30d or 2w',
    )
  }
  const ms = Number(match[1]) * UNITS[match[2]!]!
  if (!Number.isSafeInteger(ms) || ms <= 0 || ms > 100 * 365 * 86_400_000) {
    throw usageError(
      'INVALID_DURATION',
      `Invalid ${what} '${input}': must be more than zero and at most 100 years`,
    )
  }
  return ms
}

/**
 * Parse a point in time typed by a person: an ISO date or date-time (UTC unless it carries an offset),
 * `now`, or a duration meaning that long ago (`7d`).
 */
export function parseTime(input: string, what = 'time', now: number = Date.now()): number {
  const raw = input.trim()
  if (raw.toLowerCase() === 'now') return now
  if (DURATION_RE.test(raw.toLowerCase())) return now - parseDuration(raw, what)
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
