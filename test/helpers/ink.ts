import { render } from 'ink-testing-library'
import type { ReactElement } from 'react'

const KEYS: Record<string, string> = {
  up: '\u001b[A',
  down: '\u001b[B',
  tab: '\t',
  return: '\r',
  escape: '\u001b',
  backspace: '\u007f',
  'ctrl+c': '\u0003',
}

/**
 * The one way Ink components are tested: rendered at the library's fixed width (100 columns), driven by
 * key presses, and read frame by frame.
 */
export function renderInk(tree: ReactElement) {
  const instance = render(tree)
  const frame = () => instance.lastFrame() ?? ''
  return {
    ...instance,
    frame,
    /** Press keys by name (`up`, `tab`, `return`, ...) or type text. */
    async press(...keys: string[]) {
      for (const key of keys) {
        instance.stdin.write(KEYS[key] ?? key)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    /** Wait until a frame satisfies the check (bounded: fails after 3 s). */
    async waitFor(check: (frame: string) => boolean, what = 'the expected frame') {
      const end = Date.now() + 3_000
      while (!check(frame())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last frame:\n${frame()}`)
        await new Promise((r) => setTimeout(r, 10))
      }
      return frame()
    },
  }
}
