/** Semantic colours: components name what a thing is, the theme decides how it looks. */
export const theme = {
  title: 'cyan',
  muted: 'gray',
  ok: 'green',
  warn: 'yellow',
  error: 'red',
  accent: 'magenta',
  selected: 'blue',
} as const

export type Tone = keyof typeof theme
