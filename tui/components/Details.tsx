import { Box, Text } from 'ink'
import { eta, money, rate } from '../format.js'
import type { AgentView, FeedItem } from '../state/reducer.js'
import { theme } from '../theme.js'

export function Details({ agent, feed }: { agent: AgentView; feed: FeedItem[] }) {
  const recent = feed.filter((item) => item.agent === agent.name).slice(0, 5)
  return (
    <Box flexDirection="column" borderStyle="round" borderColor={theme.accent} paddingX={1}>
      <Text bold color={theme.accent}>
        {agent.name}
      </Text>
      <Text>
        spent {money(agent.spentMicros)} of{' '}
        {agent.limitMicros === null ? 'no limit' : money(agent.limitMicros)}
        {agent.remainingMicros === null ? '' : `, ${money(agent.remainingMicros)} left`}
        {agent.periodEnd ? `, resets ${agent.periodEnd.slice(0, 16).replace('T', ' ')}Z` : ''}
      </Text>
      <Text>
        burn {rate(agent.burnPerHour)}, runs out in {eta(agent.exhaustsInS)} · {agent.requests} requests,{' '}
        {agent.errors} errors, {agent.blocked} blocked
      </Text>
      {recent.map((item) => (
        <Text key={item.seq} color={theme.muted}>
          {item.at.slice(11, 19)} {item.text}
        </Text>
      ))}
    </Box>
  )
}
