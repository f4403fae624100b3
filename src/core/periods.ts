import { usageError } from './errors.js'

export const PERIODS = ['none', 'daily', 'weekly', 'monthly'] as const
export type Period = (typeof PERIODS)[number]

export function assertPeriod(value: string): Period {
  if ((PERIODS as readonly string[]).includes(value)) return value as Period
  throw usageError('INVALID_PERIOD', `Invalid period '${value}'`, `Use one of: ${PERIODS.join(', ')}`)
}

export function assertTimezone(value: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone
  } catch {
    throw usageError(
      'INVALID_TIMEZONE',
      `Unknown time zone '${value}'`,
      'Use an IANA time zone name such as UTC, Europe/Paris or America/New_York',
    )
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>()
function partsIn(tz: string, ms: number) {
  let f = formatters.get(tz)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    })
    formatters.set(tz, f)
  }
  const out: Record<string, string> = {}
  for (const p of f.formatToParts(ms)) out[p.type] = p.value
  return {
    year: Number(out.year),
    month: Number(out.month),
    day: Number(out.day),
    hour: Number(out.hour),
    minute: Number(out.minute),
    second: Number(out.second),
    weekday: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(out.weekday ?? ''),
  }
}

/** The UTC instant at which the wall clock in `tz` shows midnight of that calendar date. */
function localMidnight(tz: string, year: number, month: number, day: number): number {
  const wall = Date.UTC(year, month - 1, day)
  let guess = wall
  for (let i = 0; i < 3; i++) {
    const p = partsIn(tz, guess)
    const shown = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second)
    const next = guess - (shown - wall)
    if (next === guess) break
    guess = next
  }
  return guess
}

/** Start and end (exclusive) of the calendar period containing `now`, in the budget's time zone. */
export function periodBounds(period: Period, tz: string, now: number): { start: number; end: number | null } {
  if (period === 'none') return { start: 0, end: null }
  const p = partsIn(tz, now)
  if (period === 'daily') {
    const start = localMidnight(tz, p.year, p.month, p.day)
    const next = new Date(Date.UTC(p.year, p.month - 1, p.day + 1))
    return { start, end: localMidnight(tz, next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate()) }
  }
  if (period === 'weekly') {
    const monday = new Date(Date.UTC(p.year, p.month - 1, p.day - p.weekday))
    const nextMonday = new Date(Date.UTC(p.year, p.month - 1, p.day - p.weekday + 7))
    return {
      start: localMidnight(tz, monday.getUTCFullYear(), monday.getUTCMonth() + 1, monday.getUTCDate()),
      end: localMidnight(
        tz,
        nextMonday.getUTCFullYear(),
        nextMonday.getUTCMonth() + 1,
        nextMonday.getUTCDate(),
      ),
    }
  }
  const nextMonth = new Date(Date.UTC(p.year, p.month, 1))
  return {
    start: localMidnight(tz, p.year, p.month, 1),
    end: localMidnight(tz, nextMonth.getUTCFullYear(), nextMonth.getUTCMonth() + 1, 1),
  }
}
