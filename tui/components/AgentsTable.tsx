import { Box, Text } from 'ink'
import { bar, clip, money, rate, runsOut } from '../format.js'
import type { AgentView } from '../state/reducer.js'
import { theme } from '../theme.js'

interface Column {
  header: string
  width: number
  /** Lower numbers stay longest as the terminal narrows. */
  priority: number
  right?: boolean
  cell: (a: AgentView) => string
}

const COLUMNS: Column[] = [
  { header: 'AGENT', width: 18, priority: 0, cell: (a) => a.name },
  { header: 'SPEND', width: 11, priority: 1, right: true, cell: (a) => money(a.spentMicros) },
  {
    header: 'LIMIT',
    width: 11,
    priority: 3,
    right: true,
    cell: (a) => (a.limitMicros === null ? 'none' : money(a.limitMicros)),
  },
  {
    header: 'USED',
    width: 15,
    priority: 4,
    cell: (a) => `${bar(a.usedPct, 10)} ${a.usedPct === null ? '' : `${Math.round(a.usedPct)}%`}`,
  },
  { header: 'BURN', width: 12, priority: 7, right: true, cell: (a) => rate(a.burnPerHour) },
  { header: 'RUNS OUT', width: 9, priority: 8, right: true, cell: runsOut },
  { header: 'REQS', width: 7, priority: 2, right: true, cell: (a) => String(a.requests) },
  { header: 'ERR', width: 5, priority: 5, right: true, cell: (a) => String(a.errors) },
  { header: 'BLK', width: 5, priority: 6, right: true, cell: (a) => String(a.blocked) },
]

/** The columns that fit in `width`, most important first, shown in their usual order. */
function fitting(width: number): Column[] {
  const kept = new Set<Column>()
  let used = 0
  for (const column of [...COLUMNS].sort((a, b) => a.priority - b.priority)) {
    const need = column.width + (kept.size ? 1 : 0)
    if (used + need > width) break
    kept.add(column)
    used += need
  }
  return COLUMNS.filter((c) => kept.has(c))
}

const pad = (text: string, column: Column) =>
  column.right ? clip(text, column.width).trimEnd().padStart(column.width) : clip(text, column.width)

/** The agents table; columns drop out as the terminal narrows. */
export function AgentsTable({
  agents,
  selected,
  width,
  focused,
  rows,
}: {
  agents: AgentView[]
  selected: number
  width: number
  focused: boolean
  rows: number
}) {
  const columns = fitting(width)
  const first = Math.max(0, Math.min(selected - rows + 1, agents.length - rows))
  const shown = agents.slice(first, first + rows)
  return (
    <Box flexDirection="column">
      <Text bold color={focused ? theme.title : theme.muted} wrap="truncate">
        {columns.map((c) => pad(c.header, c)).join(' ')}
      </Text>
      {agents.length === 0 ? (
        <Text color={theme.muted} wrap="truncate">
          No agents yet: traffic through the gateway shows here.
        </Text>
      ) : null}
      {shown.map((agent, i) => {
        const isSelected = focused && first + i === selected
        const over = agent.usedPct !== null && agent.usedPct >= 100
        return (
          <Text
            key={agent.name}
            inverse={isSelected}
            color={
              over ? theme.error : agent.usedPct !== null && agent.usedPct >= 80 ? theme.warn : undefined
            }
            wrap="truncate"
          >
            {columns.map((c) => pad(c.cell(agent), c)).join(' ')}
          </Text>
        )
      })}
      {agents.length > rows ? (
        <Text color={theme.muted} wrap="truncate">
          … {agents.length - rows} more (↑/↓ to scroll, / to filter)
        </Text>
      ) : null}
    </Box>
  )
}
