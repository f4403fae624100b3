import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { atomicWriteFile } from '../config/atomic-write.js'
import { type GatewayRegistration, type HolderLookup, registeredGateways, stateOf } from './gateways.js'

/**
 * Which gateway an `iron run` uses. A gateway someone started (`iron gateway start`, a service) is shared
 * by every run on its store; a gateway a run started for itself stops when that run ends, so no other run
 * may lean on it. A run marks its own under `runs/` in the data dir (mode 0600, one file per run) before it
 * starts it, and removes the mark when it ends.
 */
const RUNS_DIR = 'runs'
/** A mark left by a run killed before its gateway had a holder id: only its age can retire it. */
const STALE_MARK_MS = 10 * 60_000
const HEALTH_TIMEOUT_MS = 1_000

interface RunMark {
  host: string
  pid: number
  /** The gateway's holder, once it has started; until then it is known by this process. */
  holder: string | null
}

/**
 * A running gateway on `store` that a run may share: registered in the data dir, its heartbeat current
 * in the store, not another run's own, and answering its health check as the holder it registered as.
 */
export async function findSharedGateway(
  dataDir: string,
  store: string,
  holders: HolderLookup,
): Promise<GatewayRegistration | undefined> {
  const now = Date.now()
  const runsOwn = runsOwnGateways(dataDir, holders, now)
  for (const gateway of registeredGateways(dataDir, store, holders, now)) {
    if (gateway.store !== store || gateway.state !== 'running' || runsOwn(gateway)) continue
    if (await answers(gateway)) return gateway
  }
  return undefined
}

/**
 * Which registered gateways an `iron run` started for itself (they stop when the run ends): for
 * `findSharedGateway`, and for `iron gateway stop`, which leaves them to their runs.
 */
export function runsOwnGateways(
  dataDir: string,
  holders: HolderLookup,
  now = Date.now(),
): (gateway: Pick<GatewayRegistration, 'holder' | 'pid'>) => boolean {
  const marks = readMarks(dataDir, (holder) => stateOf(holders(holder), now) === 'ended')
  const host = hostname()
  return (g) =>
    marks.some((m) => m.holder === g.holder || (m.holder === null && m.pid === g.pid && m.host === host))
}

/** Mark the gateway this run is about to start as its own; `started` names it, `remove` ends the mark. */
export function markRunGateway(dataDir: string): { started(holder: string): void; remove(): void } {
  const dir = join(dataDir, RUNS_DIR)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, `${process.pid}-${Date.now().toString(36)}.json`)
  const write = (holder: string | null) =>
    atomicWriteFile(file, `${JSON.stringify({ host: hostname(), pid: process.pid, holder })}\n`, 0o600)
  write(null)
  return {
    started: (holder) => write(holder),
    remove: () => rmSync(file, { force: true }),
  }
}

/** The marks of runs' own gateways; those of gateways that have ended, or too old to name one, go. */
function readMarks(dataDir: string, ended: (holder: string) => boolean): RunMark[] {
  const dir = join(dataDir, RUNS_DIR)
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const marks: RunMark[] = []
  for (const name of names) {
    const path = join(dir, name)
    try {
      const mark = JSON.parse(readFileSync(path, 'utf8')) as RunMark
      const stale =
        mark.holder === null ? Date.now() - statSync(path).mtimeMs > STALE_MARK_MS : ended(mark.holder)
      if (stale) rmSync(path, { force: true })
      else marks.push(mark)
    } catch {}
  }
  return marks
}

/** The gateway at the registered URL is up and is the one registered there (not another on its port). */
async function answers(gateway: GatewayRegistration): Promise<boolean> {
  try {
    const response = await fetch(`${gateway.url}/_iron/health`, {
      headers: { authorization: `Bearer ${gateway.admin_token}` },
      signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
    })
    if (!response.ok) return false
    const body = (await response.json()) as { holder?: unknown }
    return body.holder === gateway.holder
  } catch {
    return false
  }
}
