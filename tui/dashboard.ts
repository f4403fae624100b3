import { render } from 'ink'
import { createElement } from 'react'
import { TopApp, type TopAppProps } from './components/TopApp.js'

/**
 * Runs the live dashboard on the alternate screen until the user quits.
 * The caller has already decided stdout is a terminal, so Ink is told it is interactive: left to itself,
 * Ink draws nothing but the last frame when a CI variable is set (e.g. a dashboard opened from a CI shell).
 */
export async function showDashboard(props: TopAppProps): Promise<void> {
  process.stdout.write('\u001b[?1049h\u001b[H')
  const app = render(createElement(TopApp, props), { exitOnCtrlC: false, interactive: true })
  // After a resize the old frame may have wrapped: wipe the screen so the new layout starts clean.
  const onResize = () => {
    process.stdout.write('\u001b[2J\u001b[H')
    app.clear()
  }
  process.stdout.on('resize', onResize)
  try {
    await app.waitUntilExit()
  } finally {
    process.stdout.off('resize', onResize)
    process.stdout.write('\u001b[?1049l')
  }
}
