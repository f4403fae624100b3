import { existsSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import type { IronConfig } from '../config/config.js'
import {
  type CredentialStoreMode,
  MASTER_KEY_ENV,
  type MasterKey,
  MasterKeyResolver,
  masterKeyCheck,
  verifyMasterKey,
} from '../config/master-key.js'
import { CREDENTIALS_FILE, type Env } from '../config/paths.js'
import { FileVault, type Vault } from '../config/vault.js'
import { authError } from '../core/errors.js'
import { type Db, openDb } from '../store/db.js'
import { storeInEffect, storeUnsupported } from '../store/location.js'
import { getMeta, initMeta } from '../store/meta.js'
import { notifyGateways } from './gateways.js'

function localUser(): string {
  try {
    return userInfo().username || 'unknown'
  } catch {
    return process.env.USER ?? 'unknown'
  }
}

export const META_MASTER_KEY_CHECK = 'master_key_check'

export interface LocalContextOptions {
  config: IronConfig
  env?: Env
  /** --db from the command line; wins over IRON_DB and the config file. A PostgreSQL URL is refused (STORE_UNSUPPORTED). */
  db?: string
  /** Replaces the keychain and the credentials file (tests). */
  vault?: Vault
  /** Replaces the OS keychain probe (tests). */
  keyring?: () => { ok: true; vault: Vault } | { ok: false; reason: string }
  /** Where one-time warnings go (stderr in the CLI). */
  warn?: (message: string) => void
  /** Who acts, for the audit trail; default `local:<OS user>`. */
  actor?: string
  now?: () => number
}

/**
 * What the local (embedded) mode runs on: the config, the store (opened and migrated on first use),
 * and the master key from the vault. Commands, the gateway and `iron serve` each hold one per process.
 */
export class LocalContext {
  readonly config: IronConfig
  readonly env: Env
  readonly now: () => number
  readonly dbPath: string
  readonly actor: string
  readonly keys: MasterKeyResolver
  readonly #warn: (message: string) => void
  #db: Db | undefined
  #masterKey: MasterKey | undefined

  constructor(options: LocalContextOptions) {
    this.config = options.config
    this.env = options.env ?? process.env
    this.now = options.now ?? Date.now
    this.#warn = options.warn ?? (() => {})
    // The services run on SQLite so far: a PostgreSQL URL is refused here, before a file is named after it.
    const store = storeInEffect(this.config, options.db)
    if (store.kind === 'postgres') throw storeUnsupported(store)
    this.dbPath = store.path
    this.actor = options.actor ?? `local:${localUser()}`
    this.keys = new MasterKeyResolver({
      env: this.env,
      mode: this.config.get('credential_store') as CredentialStoreMode,
      file: new FileVault(join(this.config.dirs.configDir, CREDENTIALS_FILE)),
      vault: options.vault,
      keyring: options.keyring,
    })
  }

  get storeExists(): boolean {
    return existsSync(this.dbPath)
  }

  /** The store, created and migrated on first use. */
  db(): Db {
    this.#db ??= openDb(this.dbPath)
    return this.#db
  }

  /**
   * The master key that encrypts provider keys. Created on first need (with the keychain-or-file rule);
   * never replaced: a store whose key is missing or different gets a clear error instead.
   */
  masterKey(): Buffer {
    if (this.#masterKey) return this.#masterKey.key
    const db = this.db()
    const check = getMeta(db, META_MASTER_KEY_CHECK)
    const key = check === undefined ? this.keys.ensure() : this.keys.find()
    if (!key) {
      throw authError(
        'MASTER_KEY_MISSING',
        `This store's provider keys are encrypted under a master key that is not in the keychain or ${this.keys.fileLocation}`,
        `Restore that file (or the keychain entry "iron"), or set ${MASTER_KEY_ENV} to the key; iron never replaces a store's key on its own`,
      )
    }
    if (key.warning) this.#warn(key.warning)
    verifyMasterKey(key, initMeta(db, META_MASTER_KEY_CHECK, masterKeyCheck(key.key)))
    this.#masterKey = key
    return key.key
  }

  /** The master key's details (source, location), after masterKey() or init. */
  get masterKeyInfo(): MasterKey | undefined {
    return this.#masterKey
  }

  /**
   * If this process changed the store, tell the running gateways on it, so a revoked token or a suspended
   * agent is refused from their next request on. Commands call it when they end.
   */
  async notifyChanges(): Promise<void> {
    if (!this.#db) return
    const changes = this.#db.prepare('SELECT total_changes()').pluck().get() as number
    if (changes === 0) return
    const ended = this.#db
      .prepare('SELECT ended_at IS NOT NULL FROM holders WHERE holder = ?')
      .pluck() as import('better-sqlite3').Statement<[string], number>
    await notifyGateways(this.config.dirs.dataDir, this.dbPath, (holder) => {
      const row = ended.get(holder)
      return row === undefined ? 'unknown' : row ? 'ended' : 'live'
    })
  }

  close(): void {
    this.#db?.close()
    this.#db = undefined
  }
}
