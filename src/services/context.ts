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
import { type StoreLocation, storeInEffect, storeUnsupported } from '../store/location.js'
import { getMeta, initMeta } from '../store/meta.js'
import { openPostgres } from '../store/postgres-db.js'
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
  /** --db from the command line; wins over IRON_DB and the config file: a SQLite file or a postgres:// URL. */
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
  /** The SQLite store's file; '' on PostgreSQL (see `store`). */
  readonly dbPath: string
  /** Where the store is: a SQLite file, or a PostgreSQL database. */
  readonly store: StoreLocation
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
    // A URL is never taken for a file name: on PostgreSQL there is no file.
    this.store = storeInEffect(this.config, options.db)
    this.dbPath = this.store.kind === 'sqlite' ? this.store.path : ''
    this.actor = options.actor ?? `local:${localUser()}`
    this.keys = new MasterKeyResolver({
      env: this.env,
      mode: this.config.get('credential_store') as CredentialStoreMode,
      file: new FileVault(join(this.config.dirs.configDir, CREDENTIALS_FILE)),
      vault: options.vault,
      keyring: options.keyring,
    })
  }

  /** Whether the store exists (a PostgreSQL database is taken to: opening it says if it does not). */
  get storeExists(): boolean {
    return this.store.kind === 'postgres' || existsSync(this.dbPath)
  }

  /** The store as people know it: the file, or the database's URL without its password. */
  get storeLabel(): string {
    return this.store.kind === 'postgres' ? this.store.safeUrl : this.dbPath
  }

  /**
   * For what runs on the embedded store's file only (a local gateway and its journal, `iron run`): a
   * PostgreSQL store is refused with what to do instead.
   */
  requireFileStore(): void {
    if (this.store.kind === 'postgres') throw storeUnsupported(this.store)
  }

  /** The store: a SQLite file created and migrated on first use, or a migrated PostgreSQL database. */
  db(): Db {
    this.#db ??=
      this.store.kind === 'postgres' ? openPostgres(this.store.url, this.store.safeUrl) : openDb(this.dbPath)
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
    // Gateways on PostgreSQL are team gateways: they hear of changes from iron serve.
    if (!this.#db || this.store.kind === 'postgres') return
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
