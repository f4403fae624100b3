import { Text } from 'ink'
import { rate, sparkline } from '../format.js'
import { theme } from '../theme.js'

export function Sparkline({ series, width, perHour }: { series: number[]; width: number; perHour: number }) {
  const span = Math.max(Math.min(width - 30, series.length), 10)
  return (
    <Text wrap="truncate">
      <Text color={theme.muted}>spend, last 10 min </Text>
      <Text color={theme.accent}>{sparkline(series, span)}</Text>
      <Text color={theme.muted}> {rate(perHour)}</Text>
    </Text>
  )
}
