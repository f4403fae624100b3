import { useApp, useInput, useWindowSize } from 'ink'
import { useReducer, useRef } from 'react'
import { type Subscribe, useFeed } from '../hooks/use-feed.js'
import { actionFor } from '../state/keymap.js'
import { initialState, reduce, type TopState } from '../state/reducer.js'
import { TopScreen } from './TopScreen.js'

export interface TopAppProps {
  source: string
  subscribe: Subscribe
  intervalMs: number
}

/** The live dashboard: state in a reducer, I/O in hooks, drawing in TopScreen. */
export function TopApp({ source, subscribe, intervalMs }: TopAppProps) {
  const [state, dispatch] = useReducer(reduce, source, (s) => initialState(s, Date.now()))
  const frozen = useRef<TopState | undefined>(undefined)
  const { exit } = useApp()
  const { columns, rows } = useWindowSize()
  useFeed(subscribe, dispatch, intervalMs)

  useInput((input, key) => {
    if (state.filtering) {
      const special = key.escape
        ? 'escape'
        : key.return
          ? 'return'
          : key.backspace || key.delete
            ? 'backspace'
            : undefined
      if (special) dispatch({ type: 'filter-input', input: special })
      else if (input && !key.ctrl && !key.meta) dispatch({ type: 'filter-input', input })
      return
    }
    const name =
      key.ctrl && input === 'c'
        ? 'ctrl+c'
        : key.tab
          ? 'tab'
          : key.return
            ? 'return'
            : key.escape
              ? 'escape'
              : key.upArrow
                ? 'up'
                : key.downArrow
                  ? 'down'
                  : input
    const action = actionFor(name)
    if (action === 'quit') return exit()
    if (action) dispatch({ type: 'key', action })
  })

  // Paused: the screen keeps what it showed; the state underneath keeps counting.
  if (state.paused) frozen.current ??= state
  else frozen.current = undefined
  const shown = frozen.current
    ? { ...frozen.current, paused: true, help: state.help, details: state.details, selected: state.selected }
    : state
  return <TopScreen state={shown} width={columns} height={rows} />
}
