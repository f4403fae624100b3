import { Box, Text } from 'ink'
import { KEYMAP } from '../state/keymap.js'
import { theme } from '../theme.js'

export function HelpOverlay() {
  return (
    <Box flexDirection="column" borderStyle="round" borderColor={theme.title} paddingX={1}>
      <Text bold color={theme.title}>
        Keys
      </Text>
      {KEYMAP.map((binding) => (
        <Text key={binding.action}>
          <Text bold>{binding.label.padEnd(7)}</Text> {binding.describe}
        </Text>
      ))}
    </Box>
  )
}

/** The one-line reminder at the bottom, from the same keymap. */
export function KeyHints({
  sort,
  panel,
  filter,
  filtering,
}: {
  sort: string
  panel: string
  filter: string
  filtering: boolean
}) {
  if (filtering) {
    return (
      <Text>
        filter: <Text bold>{filter}</Text>
        <Text inverse> </Text> <Text color={theme.muted}>(enter to keep, esc to clear)</Text>
      </Text>
    )
  }
  return (
    <Text color={theme.muted} wrap="truncate">
      ? help · q quit · s sort: {sort} · / filter{filter ? `: ${filter}` : ''} · p pause · tab: {panel} ·
      enter details
    </Text>
  )
}
