import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { atomicWriteFile } from '../config/atomic-write.js'

/** What a running gateway writes about itself in the data dir (mode 0600: the admin token is in it). */
export interface GatewayRegistration {
  url: string
  pid: number
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
