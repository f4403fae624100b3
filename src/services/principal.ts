import { AsyncLocalStorage } from 'node:async_hooks'
import type { UserRole } from './api.js'

/**
 * Who a control-plane call acts for. Commands on the local store run without one: the OS user who can open
 * the store owns it and may do everything. `iron serve` runs each request inside `runAs` with the principal
 * its session or API token proves, never one taken from a request body; services read it to authorize and
 * to name the actor of what they audit.
 */
export interface Principal {
  via: 'session' | 'api_token' | 'system'
  /** The audit actor: `user:<name>` (or `system:<what>`). */
  actor: string
  user_id: string | null
  user_name: string | null
  /** The effective role: the user's, narrowed by an API token's. */
  role: UserRole
  session_id?: string
  api_token_id?: string
  expires_at?: number | null
}

const current = new AsyncLocalStorage<Principal>()

/** Runs `fn` (and everything it awaits) as `principal`. */
export function runAs<T>(principal: Principal, fn: () => T): T {
  return current.run(principal, fn)
}

/** The principal of the call in progress; undefined on the local store (full rights). */
export function currentPrincipal(): Principal | undefined {
  return current.getStore()
}
