import { Box, Text } from 'ink'
import { formatDuration } from '../../src/core/time.js'
import { rate } from '../format.js'
import { requestsPerSecond, spendPerHour, type TopState } from '../state/reducer.js'
import { theme } from '../theme.js'

export function Header({ state }: { state: TopState }) {
  const c = state.connection
  const status =
    c.state === 'live' ? (
      <Text color={theme.ok}>live</Text>
    ) : c.state === 'connecting' ? (
      <Text color={theme.warn}>connecting…</Text>
    ) : (
      <Text color={theme.error}>
        disconnected ({c.reason}); retrying in {c.inSeconds}s
      </Text>
    )
  const uptime = state.uptimeS + Math.max(Math.round((state.now - state.snapshotAt) / 1000), 0)
  return (
    <Box justifyContent="space-between">
      <Text wrap="truncate">
        <Text bold color={theme.title}>
          iron top
        </Text>{' '}
        <Text color={theme.muted}>{state.source}</Text> · {status} · up {formatDuration(uptime * 1000)} ·{' '}
        {requestsPerSecond(state).toFixed(1)} req/s · {rate(spendPerHour(state))}
      </Text>
      {state.paused ? (
        <Text inverse color={theme.warn}>
          {' '}
          PAUSED{' '}
        </Text>
      ) : null}
    </Box>
  )
}
