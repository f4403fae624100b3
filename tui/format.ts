import { formatMoney } from '../src/core/money.js'
import { formatDuration } from '../src/core/time.js'

export const money = (micros: number | null) => (micros === null ? '-' : formatMoney(micros))
export const rate = (microsPerHour: number) => `${formatMoney(Math.round(microsPerHour))}/h`

/**
 * When an agent's budget runs out at its current burn: `now` once nothing is left, `–` where no projection
 * means anything (no limit, or nothing spent lately), `<1s` rather than a rounded `0ms`.
 */
export function runsOut(agent: {
  limitMicros: number | null
  remainingMicros: number | null
  exhaustsInS: number | null
}): string {
  if (agent.limitMicros === null) return '–'
  if (agent.remainingMicros !== null && agent.remainingMicros <= 0) return 'now'
  if (agent.exhaustsInS === null) return '–'
  if (agent.exhaustsInS < 1) return '<1s'
  if (agent.exhaustsInS > 365 * 86_400) return '>1y'
  return formatDuration(Math.round(agent.exhaustsInS) * 1000)
}

const BLOCKS = ' ▁▂▃▄▅▆▇█'

/** A sparkline of `width` characters from the last values of a series. */
export function sparkline(series: number[], width: number): string {
  const values = series.slice(-width)
  const max = Math.max(...values, 0)
  return values
    .map((v) => (max === 0 ? BLOCKS[0] : BLOCKS[Math.ceil((v / max) * (BLOCKS.length - 1))]))
    .join('')
}

/** A bar of `width` characters filled to `pct` percent. */
export function bar(pct: number | null, width: number): string {
  if (pct === null) return ' '.repeat(width)
  const filled = Math.min(Math.round((pct / 100) * width), width)
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`
}

export const clip = (text: string, width: number) =>
  text.length > width ? `${text.slice(0, Math.max(width - 1, 0))}…` : text.padEnd(width)
