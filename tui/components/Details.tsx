import { Box, Text } from 'ink'
import { money, rate, runsOut } from '../format.js'
import type { AgentView, FeedItem } from '../state/reducer.js'
import { theme } from '../theme.js'

/** The selected agent: its budget, burn and counts, and its latest lines of the feed (as many as fit). */
export function Details({ agent, recent, since }: { agent: AgentView; recent: FeedItem[]; since: string }) {
  const left = agent.remainingMicros === null ? '' : `, ${money(agent.remainingMicros)} left`
  const resets = agent.periodEnd ? `, resets ${agent.periodEnd.slice(0, 16).replace('T', ' ')}Z` : ''
  const out = runsOut(agent)
  const runs = out === '–' ? 'no run-out in sight' : out === 'now' ? 'ran out' : `runs out in ${out}`
  return (
    <Box flexDirection="column" borderStyle="round" borderColor={theme.accent} paddingX={1}>
      <Text bold color={theme.accent} wrap="truncate">
        {agent.name}
      </Text>
      <Text wrap="truncate">
        spent {money(agent.spentMicros)} of{' '}
        {agent.limitMicros === null ? 'no limit' : money(agent.limitMicros)} this period{left}
        {resets}
      </Text>
      <Text wrap="truncate">
        burn {rate(agent.burnPerHour)}, {runs}
      </Text>
      <Text wrap="truncate">
        since {since}: {agent.requests} requests, {agent.errors} errors, {agent.blocked} blocked
      </Text>
      {recent.map((item) => (
        <Text key={item.seq} color={theme.muted} wrap="truncate">
          {item.at.slice(11, 19)} {item.text}
        </Text>
      ))}
    </Box>
  )
}
