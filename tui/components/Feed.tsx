import { Box, Text } from 'ink'
import { clip } from '../format.js'
import type { FeedItem } from '../state/reducer.js'
import { theme } from '../theme.js'

const time = (iso: string) => iso.slice(11, 19)

export function Feed({
  title,
  items,
  rows,
  width,
  focused,
}: {
  title: string
  items: FeedItem[]
  rows: number
  width: number
  focused: boolean
}) {
  return (
    <Box flexDirection="column">
      <Text bold color={focused ? theme.title : theme.muted}>
        {title}
      </Text>
      {items.length === 0 ? <Text color={theme.muted}>Nothing yet.</Text> : null}
      {items.slice(0, rows).map((item) => (
        <Text key={item.seq} color={item.tone === 'ok' ? undefined : theme[item.tone]} wrap="truncate">
          {time(item.at)} {clip(item.agent, 16)} {item.text.slice(0, Math.max(width - 27, 10))}
        </Text>
      ))}
    </Box>
  )
}
