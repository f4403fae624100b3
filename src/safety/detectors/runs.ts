/**
 * Long runs of token characters ([A-Za-z0-9+/=_-]: base64, base64url, hex, and every provider key alphabet),
 * found once per scan and shared: the key detector looks for known prefixes at the start of the runs, the
 * prompt-injection detector decodes the long ones.
 */
import type { DetectContext } from './detector.js'

/** Indexed by UTF-16 code unit (65,536 entries, so the hot loops need no range check). */
const RUN_CHAR = new Uint8Array(65536)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_')
  RUN_CHAR[c.charCodeAt(0)] = 1

/** Shortest run reported; no key or encoded payload the detectors look for is shorter. */
export const MIN_RUN = 16

/**
 * Maximal runs at least `min` long, as a flat [start, end, start, end, ...] list. Samples every `min`-th
 * character: a run that long must contain a sampled position, so other text is skipped `min` characters at a
 * time. Linear: each character is read at most twice.
 */
export function longRuns(text: string, min: number): number[] {
  const runs: number[] = []
  let floor = 0
  for (let i = min - 1; i < text.length; ) {
    if (RUN_CHAR[text.charCodeAt(i)] === 0) {
      i += min
      continue
    }
    let s = i
    while (s > floor && RUN_CHAR[text.charCodeAt(s - 1)] === 1) s--
    let e = i + 1
    while (e < text.length && RUN_CHAR[text.charCodeAt(e)] === 1) e++
    if (e - s >= min) runs.push(s, e)
    floor = e
    i = e + min
  }
  return runs
}

/** The runs of at least MIN_RUN characters, computed once per scan (given `ctx`). */
export function tokenRuns(text: string, ctx?: DetectContext): number[] {
  const memo = ctx?.memo?.get('runs') as number[] | undefined
  if (memo) return memo
  const runs = longRuns(text, MIN_RUN)
  ctx?.memo?.set('runs', runs)
  return runs
}
