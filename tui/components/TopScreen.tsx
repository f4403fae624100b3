import { Box, Text } from 'ink'
import { spendPerHour, type TopState, visibleAgents } from '../state/reducer.js'
import { theme } from '../theme.js'
import { AgentsTable } from './AgentsTable.js'
import { Details } from './Details.js'
import { Feed } from './Feed.js'
import { Header } from './Header.js'
import { HelpOverlay, KeyHints } from './HelpOverlay.js'
import { Sparkline } from './Sparkline.js'

/** The whole dashboard, from state alone: sized to the terminal it is given. */
export function TopScreen({ state, width, height }: { state: TopState; width: number; height: number }) {
  const agents = visibleAgents(state)
  const selected = agents[Math.min(state.selected, agents.length - 1)]
  const alerts = state.alerts.slice(0, 3)
  const fixed = 6 + alerts.length + (alerts.length ? 1 : 0)
  const room = Math.max(height - fixed, 4)
  const agentRows = Math.max(Math.min(agents.length || 1, Math.floor(room / 2)), 1)
  const feedRows = Math.max(room - agentRows - 2, 1)
  if (state.help) {
    return (
      <Box flexDirection="column" width={width}>
        <Header state={state} />
        <HelpOverlay />
      </Box>
    )
  }
  return (
    <Box flexDirection="column" width={width}>
      <Header state={state} />
      <AgentsTable
        agents={agents}
        selected={state.selected}
        width={width}
        focused={state.panel === 'agents'}
        rows={agentRows}
      />
      {state.details && selected ? <Details agent={selected} feed={state.feed} /> : null}
      <Sparkline series={state.spend} width={width} perHour={spendPerHour(state)} />
      {alerts.length ? (
        <Box flexDirection="column">
          <Text bold color={theme.warn}>
            ALERTS
          </Text>
          {alerts.map((a) => (
            <Text key={a.seq} color={theme.warn} wrap="truncate">
              {a.at.slice(11, 19)} {a.agent} {a.text}
            </Text>
          ))}
        </Box>
      ) : null}
      <Feed
        title="RECENT"
        items={state.feed}
        rows={feedRows}
        width={width}
        focused={state.panel === 'feed'}
      />
      <KeyHints sort={state.sort} panel={state.panel} filter={state.filter} filtering={state.filtering} />
    </Box>
  )
}
