import { formatMoney } from '../src/core/money.js'
import { formatDuration } from '../src/core/time.js'

export const money = (micros: number | null) => (micros === null ? '-' : formatMoney(micros))
export const rate = (microsPerHour: number) => `${formatMoney(Math.round(microsPerHour))}/h`
export const eta = (seconds: number | null) => (seconds === null ? '-' : formatDuration(seconds * 1000))

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
