import { join } from 'node:path'
import type { ConfigSource, IronConfig } from '../config/config.js'
import type { CredentialStoreMode } from '../config/master-key.js'
import { CREDENTIALS_FILE, type Env } from '../config/paths.js'
import { FileVault, KeyringVault, type Vault } from '../config/vault.js'
import { ExitCode, IronError, usageError } from '../core/errors.js'
import { SECRET_PREFIXES } from '../core/secrets.js'
import { normalizeServerUrl, ServerConnection } from './http.js'
import { HttpControlPlane } from './http-control-plane.js'

/**
 * The context of team mode, like kubectl's: which server commands go to (`--server` > IRON_SERVER > the
 * config's `server`, which `iron login` sets) and the credential for it, kept in the vault (the OS keychain,
 * or a 0600 file without one), never in the config file, argv or a log.
 */

/** What `iron login` keeps in the vault for one server. */
export interface StoredLogin {
  server: string
  user: string
  via: 'session' | 'api_token'
  token: string
  /** When the session or API token expires, as the server said at sign-in (a session slides on use). */
  expires_at: string | null
}

export interface ServerInEffect {
  url: string
  source: Exclude<ConfigSource, 'default'>
}

/** The vault entry of a server's login: one per server, so switching contexts keeps each sign-in. */
const entryName = (url: string) => `login:${url}`

/** Env var with an API token (`iron_at_…`) for automation: used instead of a stored login when set. */
export const TOKEN_ENV = 'IRON_TOKEN'

/**
 * The server commands go to, if any: `--server` > IRON_SERVER > config `server`. An explicit `--db` means
 * the local store at that path, so it wins over a server from the environment or the config file.
 */
export function serverInEffect(
  config: IronConfig,
  flags: { server?: string; db?: string } = {},
): ServerInEffect | undefined {
  if (flags.server !== undefined && flags.db !== undefined) {
    throw usageError(
      'CONFLICTING_FLAGS',
      '--server and --db name two different control planes',
      'Use --server URL for a team server, or --db PATH for a local store, not both',
    )
  }
  if (flags.db !== undefined) return undefined
  const entry = config.entry('server', flags.server)
  if (entry.value === undefined || entry.source === 'default') return undefined
  return { url: normalizeServerUrl(String(entry.value)), source: entry.source }
}

/** Where logins are kept: the same keychain-or-file rule as the master key (config `credential_store`). */
export function loginVault(
  config: IronConfig,
  keyring: () => ReturnType<typeof KeyringVault.probe> = KeyringVault.probe,
): Vault {
  const file = new FileVault(join(config.dirs.configDir, CREDENTIALS_FILE))
  const mode = config.get('credential_store') as CredentialStoreMode
  if (mode === 'file') return file
  const probe = keyring()
  if (probe.ok) return probe.vault
  if (mode === 'keyring') {
    throw new IronError('VAULT_UNAVAILABLE', `The OS keychain is not reachable: ${probe.reason}`, {
      hint: 'Use IRON_CREDENTIAL_STORE=file (a 0600 file in the config dir)',
    })
  }
  return file
}

export function readLogin(vault: Vault, url: string): StoredLogin | undefined {
  const raw = vault.get(entryName(url))
  if (raw === undefined) return undefined
  try {
    const login = JSON.parse(raw) as StoredLogin
    if (typeof login.token === 'string' && typeof login.user === 'string') return login
  } catch {}
  return undefined
}

export function storeLogin(vault: Vault, login: StoredLogin): void {
  vault.set(entryName(login.server), JSON.stringify(login))
}

export function forgetLogin(vault: Vault, url: string): boolean {
  return vault.delete(entryName(url))
}

/** An API token from IRON_TOKEN; anything else there (an agent's IC token for iron run) is not for the server. */
export function envApiToken(env: Env): string | undefined {
  const value = env[TOKEN_ENV]?.trim()
  return value?.startsWith(SECRET_PREFIXES.at) ? value : undefined
}

export interface ConnectOptions {
  env?: Env
  vault?: Vault
  userAgent?: string
  timeoutMs?: number
}

/** The credential for a server: IRON_TOKEN's API token, else the stored login; undefined when neither. */
export function credentialFor(server: ServerInEffect, vault: () => Vault, env: Env): string | undefined {
  return envApiToken(env) ?? readLogin(vault(), server.url)?.token
}

/** The control plane of the server in effect, signed in; a clear error when there is no credential for it. */
export function connectServer(
  config: IronConfig,
  server: ServerInEffect,
  options: ConnectOptions = {},
): HttpControlPlane {
  const env = options.env ?? config.env
  const token = credentialFor(server, () => options.vault ?? loginVault(config), env)
  if (!token) throw notSignedIn(server)
  return new HttpControlPlane(
    new ServerConnection({
      url: server.url,
      token,
      userAgent: options.userAgent,
      timeoutMs: options.timeoutMs,
    }),
  )
}

/** How to go back to the local store, by where the server came from. */
const LOCAL_AGAIN: Record<ServerInEffect['source'], string> = {
  flag: '',
  env: '; to use the local store instead, unset IRON_SERVER',
  file: '; to use the local store instead: iron config unset server',
}

export function notSignedIn(server: ServerInEffect): IronError {
  const from =
    server.source === 'flag' ? '--server' : server.source === 'env' ? 'IRON_SERVER' : 'config server'
  return new IronError('NOT_SIGNED_IN', `Not signed in to ${server.url} (from ${from})`, {
    exitCode: ExitCode.auth,
    hint: `Sign in with: iron login ${server.url} (or set ${TOKEN_ENV} to an API token)${LOCAL_AGAIN[server.source]}`,
  })
}
