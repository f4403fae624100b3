import { Box, Text } from 'ink'
import { screenLayout } from '../state/layout.js'
import { spendPerHour, type TopState, visibleAgents } from '../state/reducer.js'
import { theme } from '../theme.js'
import { AgentsTable } from './AgentsTable.js'
import { Details } from './Details.js'
import { Feed } from './Feed.js'
import { Header } from './Header.js'
import { HelpOverlay, KeyHints } from './HelpOverlay.js'
import { Sparkline } from './Sparkline.js'

/** The whole dashboard, from state alone: sized to the terminal it is given, never taller. */
export function TopScreen({ state, width, height }: { state: TopState; width: number; height: number }) {
  const agents = visibleAgents(state)
  const selected = agents[Math.min(state.selected, agents.length - 1)]
  const details = state.details && selected !== undefined
  const recent = details ? state.feed.filter((item) => item.agent === selected.name) : []
  const rows = screenLayout(height, {
    agents: agents.length,
    alerts: state.alerts.length,
    details,
    recent: recent.length,
  })
  const alerts = state.alerts.slice(0, rows.alertRows)
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
      <Text color={theme.muted} wrap="truncate">
        spend: this budget period · reqs, err, blk: since top opened at {clock(state.openedAt)}
      </Text>
      <AgentsTable
        agents={agents}
        selected={state.selected}
        width={width}
        focused={state.panel === 'agents'}
        rows={rows.agentRows}
      />
      {details ? (
        <Details agent={selected} recent={recent.slice(0, rows.recentRows)} since={clock(state.openedAt)} />
      ) : null}
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
        rows={rows.feedRows}
        width={width}
        focused={state.panel === 'feed'}
      />
      <KeyHints sort={state.sort} panel={state.panel} filter={state.filter} filtering={state.filtering} />
    </Box>
  )
}

/** A time as the feed shows its own (UTC, to the second). */
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19)
