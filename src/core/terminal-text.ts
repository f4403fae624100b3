/**
 * C0 controls, DEL and C1 controls: the characters a terminal acts on instead of showing (ESC and CSI start
 * cursor moves, screen clears and title changes; BEL, backspace and carriage return rewrite what is shown).
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
const CONTROLS = new RegExp(CONTROL.source, 'g')
const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' }

/**
 * Text from the store, an agent or an upstream made safe to show in a terminal: every control character
 * becomes visible text (`\x1b`, `\r`, ...), so it cannot act on the terminal. `keep: 'layout'` leaves tabs
 * and newlines alone, for text whose lines and columns are the printer's own. Escaping twice changes nothing.
 */
export function escapeControls(text: string, keep: 'none' | 'layout' = 'none'): string {
  if (!CONTROL.test(text)) return text
  return text.replace(CONTROLS, (ch) =>
    keep === 'layout' && (ch === '\n' || ch === '\t')
      ? ch
      : (NAMED[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`),
  )
}
