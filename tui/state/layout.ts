/** How many lines each part of the dashboard gets: a frame taller than the terminal scrolls its top away. */
export interface ScreenLayout {
  /** Agent rows in the table (the table adds its header, and a "… more" line when some are hidden). */
  agentRows: number
  /** Alert lines (shown under a title line when there are any). */
  alertRows: number
  /** Recent lines in the details panel (it adds its border and four lines of its own). */
  recentRows: number
  /** Lines of the feed (under its title). */
  feedRows: number
}

/** Header, caption, table header, sparkline, feed title and key hints: always on screen. */
const ALWAYS = 6
/** The details panel without its recent lines: top and bottom border, name, spend, burn, counts. */
const DETAILS = 6
const MAX_ALERTS = 3
const MAX_RECENT = 5

/**
 * Share `height` lines between the parts: the table keeps at least one row and the feed one line; then
 * the details panel, alerts, half of what is left for agents, the panel's recent lines, and the rest to
 * the feed. Alerts go first when the terminal is too short for everything.
 */
export function screenLayout(
  height: number,
  shown: { agents: number; alerts: number; details: boolean; recent: number },
): ScreenLayout {
  const details = shown.details ? DETAILS : 0
  const agents = Math.max(shown.agents, 1)
  // One agent row (and "… n more" when there are others) and one feed line at least.
  const least = 2 + (shown.agents > 1 ? 1 : 0)
  let room = Math.max(height - ALWAYS - details - least, 0)
  let alertRows = Math.min(shown.alerts, MAX_ALERTS)
  if (alertRows > 0 && room < alertRows + 1) alertRows = Math.max(room - 1, 0)
  if (alertRows > 0) room -= alertRows + 1
  const agentRows = Math.min(agents, 1 + Math.floor(room / 2))
  // `least` kept a line for "… n more"; when every agent fits, that line is the feed's.
  const spareMore = shown.agents > 1 && agentRows >= shown.agents ? 1 : 0
  room -= agentRows - 1 - spareMore
  const recentRows = shown.details ? Math.min(shown.recent, MAX_RECENT, Math.floor(room / 2)) : 0
  return { agentRows, alertRows, recentRows, feedRows: 1 + room - recentRows }
}
