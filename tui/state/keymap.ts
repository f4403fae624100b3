/** One keymap: it drives the input handling and the help overlay alike. */
export type KeyAction =
  | 'quit'
  | 'help'
  | 'sort'
  | 'filter'
  | 'pause'
  | 'panel'
  | 'details'
  | 'up'
  | 'down'
  | 'close'

export interface KeyBinding {
  keys: string[]
  label: string
  action: KeyAction
  describe: string
}

export const KEYMAP: readonly KeyBinding[] = [
  { keys: ['q', 'ctrl+c'], label: 'q', action: 'quit', describe: 'quit' },
  { keys: ['?'], label: '?', action: 'help', describe: 'this help' },
  { keys: ['s'], label: 's', action: 'sort', describe: 'sort agents (spend, burn, requests, errors, name)' },
  {
    keys: ['/'],
    label: '/',
    action: 'filter',
    describe: 'filter agents by name (enter to keep, esc to clear)',
  },
  { keys: ['p'], label: 'p', action: 'pause', describe: 'pause or resume the display' },
  { keys: ['tab'], label: 'tab', action: 'panel', describe: 'switch between agents and the feed' },
  { keys: ['return'], label: 'enter', action: 'details', describe: 'details of the selected agent' },
  { keys: ['up', 'k'], label: '↑/k', action: 'up', describe: 'select the previous agent' },
  { keys: ['down', 'j'], label: '↓/j', action: 'down', describe: 'select the next agent' },
  { keys: ['escape'], label: 'esc', action: 'close', describe: 'close help or details' },
]

/** The action for a key press, named as Ink reports it (`q`, `ctrl+c`, `tab`, `return`, `up`, ...). */
export function actionFor(key: string): KeyAction | undefined {
  return KEYMAP.find((binding) => binding.keys.includes(key))?.action
}
