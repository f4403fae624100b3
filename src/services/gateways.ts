import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { atomicWriteFile } from '../config/atomic-write.js'
import { HoldersRepo } from '../store/holders.js'
import type { LocalContext } from './context.js'

/** What a running gateway writes about itself in the data dir (mode 0600: the admin token is in it). */
export interface GatewayRegistration {
  url: string
  pid: number
  /** The machine it runs on (its pid means something only there); absent in files of older versions. */
  host?: string
  holder: string
  started_at: string
  admin_token: string
  store: string
}

export const GATEWAY_FILE = 'gateway.json'
const REGISTRY_DIR = 'gateways'
const NOTIFY_TIMEOUT_MS = 1_000

/** A registration's file name: its holder, which is unique per run (a PID is not, across containers). */
const fileOf = (holder: string) => `${holder.replace(/[^\w.-]/g, '_')}.json`

/**
 * Register a running gateway: `gateway.json` (the latest, for people, scripts and `iron top`) and one file
 * per gateway under `gateways/`, so that commands can tell every gateway on the store that it changed.
 * Returns the function that removes both (this gateway's own entries, never another's).
 */
export function registerGateway(dataDir: string, info: GatewayRegistration): () => void {
  const dir = join(dataDir, REGISTRY_DIR)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const own = join(dir, fileOf(info.holder))
  const latest = join(dataDir, GATEWAY_FILE)
  const text = `${JSON.stringify(info, null, 2)}\n`
  atomicWriteFile(own, text, 0o600)
  atomicWriteFile(latest, text, 0o600)
  return () => {
    rmSync(own, { force: true })
    try {
      if ((JSON.parse(readFileSync(latest, 'utf8')) as GatewayRegistration).holder === info.holder)
        rmSync(latest, { force: true })
    } catch {}
  }
}

/** What the store says of a holder: its heartbeat registration ended (stopped, or expired and reclaimed). */
export type HolderState = (holder: string) => 'live' | 'ended' | 'unknown'

/**
 * Gateways registered in the data dir. With the store's word on each (`state`), a registration whose
 * holder has ended is not running (its file is removed); a process id proves nothing, so it is not asked.
 */
export function runningGateways(dataDir: string, state?: HolderState): GatewayRegistration[] {
  const dir = join(dataDir, REGISTRY_DIR)
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  const found: GatewayRegistration[] = []
  for (const name of names) {
    if (!name.endsWith('.json')) continue
    const path = join(dir, name)
    try {
      const info = JSON.parse(readFileSync(path, 'utf8')) as GatewayRegistration
      if (state?.(info.holder) === 'ended') rmSync(path, { force: true })
      else found.push(info)
    } catch {}
  }
  return found
}

/**
 * Tell the gateways on a store that it changed (a token revoked, an agent suspended, a limit lowered), so
 * the change applies to their next request. Waits for each (up to a second); a gateway that does not
 * answer still notices within 100 ms on its own.
 */
export async function notifyGateways(dataDir: string, store: string, state?: HolderState): Promise<number> {
  const gateways = runningGateways(dataDir, state).filter((g) => g.store === store)
  const results = await Promise.all(
    gateways.map(async (g) => {
      try {
        const response = await fetch(`${g.url}/_iron/invalidate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${g.admin_token}` },
          signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS),
        })
        return response.ok
      } catch {
        return false
      }
    }),
  )
  return results.filter(Boolean).length
}

/** What the store knows of a holder's heartbeat (its row in the holders table). */
export interface HolderHeartbeat {
  renewed_at: number
  expires_at: number
  ended_at: number | null
}
export type HolderLookup = (holder: string) => HolderHeartbeat | undefined

/** The local store's heartbeats; none when there is no store yet (a status never creates one). */
export function localHolders(ctx: LocalContext): HolderLookup {
  if (!ctx.storeExists) return () => undefined
  const repo = new HoldersRepo(ctx.db())
  return (holder) => repo.get(holder)
}

/**
 * A registered gateway as its heartbeat in the store tells it: `running` (renewed within its TTL),
 * `not_responding` (its heartbeat ran out: killed or stalled; what it held comes back once reclaimed), or
 * `unknown` (its store is another one, whose heartbeats this store does not hold).
 */
export type GatewayState = 'running' | 'not_responding' | 'unknown'

/** A heartbeat's state; `ended` (stopped, or reclaimed after it ran out) means the registration is over. */
export function stateOf(beat: HolderHeartbeat | undefined, now: number): GatewayState | 'ended' {
  if (!beat) return 'unknown'
  if (beat.ended_at !== null) return 'ended'
  return beat.expires_at > now ? 'running' : 'not_responding'
}

/**
 * The gateways registered in the data dir, judged by their heartbeat in `store` (never by a process id):
 * those on `store` and the other stores named. Registrations whose holder has ended are removed.
 */
export function registeredGateways(
  dataDir: string,
  store: string,
  holders: HolderLookup,
  now = Date.now(),
): Array<GatewayRegistration & { state: GatewayState; heartbeat_at: string | null }> {
  const found: Array<GatewayRegistration & { state: GatewayState; heartbeat_at: string | null }> = []
  const state: HolderState = (holder) => {
    const s = stateOf(holders(holder), now)
    return s === 'ended' ? 'ended' : s === 'unknown' ? 'unknown' : 'live'
  }
  for (const g of runningGateways(dataDir, state)) {
    const beat = g.store === store ? holders(g.holder) : undefined
    const s = stateOf(beat, now)
    if (s === 'ended') continue
    found.push({
      ...g,
      state: s,
      heartbeat_at: beat ? new Date(beat.renewed_at).toISOString() : null,
    })
  }
  return found.sort((a, b) => a.started_at.localeCompare(b.started_at))
}
