import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { IronError } from '../core/errors.js'
import { atomicWriteFile } from './atomic-write.js'

/** Where secrets of the operator's machine (the store's master key) are kept. */
export interface Vault {
  readonly backend: 'keyring' | 'file' | 'memory'
  /** Human description of the location, for doctor and init. */
  readonly location: string
  get(name: string): string | undefined
  set(name: string, value: string): void
  delete(name: string): boolean
}

export const KEYRING_SERVICE = 'iron'

interface KeyringEntry {
  getPassword(): string | null
  setPassword(password: string): void
  deletePassword(): boolean
}
type KeyringModule = {
  Entry: new (service: string, account: string, options?: { linux?: { store?: string } }) => KeyringEntry
}

/** The OS keychain through @napi-rs/keyring. On Linux, only the Secret Service: the kernel keyring forgets keys at logout. */
export class KeyringVault implements Vault {
  readonly backend = 'keyring'
  readonly location = 'OS keychain (service "iron")'
  #module: KeyringModule

  constructor(module?: KeyringModule) {
    this.#module = module ?? (createRequire(import.meta.url)('@napi-rs/keyring') as KeyringModule)
  }

  #entry(name: string): KeyringEntry {
    return new this.#module.Entry(KEYRING_SERVICE, name, { linux: { store: 'secret-service' } })
  }

  get(name: string): string | undefined {
    return this.#entry(name).getPassword() ?? undefined
  }

  set(name: string, value: string): void {
    this.#entry(name).setPassword(value)
    if (this.get(name) !== value) throw new Error('the keychain did not keep the value')
  }

  delete(name: string): boolean {
    return this.#entry(name).deletePassword()
  }

  /** Whether the keychain answers at all (a machine without D-Bus does not). */
  static probe(): { ok: true; vault: KeyringVault } | { ok: false; reason: string } {
    try {
      const vault = new KeyringVault()
      vault.get('probe')
      return { ok: true, vault }
    } catch (error) {
      return { ok: false, reason: firstLine((error as Error).message) }
    }
  }
}

/** A JSON file readable only by its owner (0600), written atomically. For headless machines. */
export class FileVault implements Vault {
  readonly backend = 'file'
  constructor(readonly path: string) {}

  get location(): string {
    return this.path
  }

  #read(): Record<string, string> {
    if (!existsSync(this.path)) return {}
    try {
      const mode = statSync(this.path).mode & 0o777
      if (mode & 0o077) chmodSync(this.path, 0o600)
      const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as unknown
      if (typeof parsed !== 'object' || parsed === null) throw new Error('not a JSON object')
      return parsed as Record<string, string>
    } catch (error) {
      throw new IronError(
        'VAULT_UNREADABLE',
        `Cannot read the credentials file ${this.path}: ${(error as Error).message}`,
        {
          hint: 'Restore it from a backup, or set IRON_MASTER_KEY to the master key',
        },
      )
    }
  }

  get(name: string): string | undefined {
    return this.#read()[name]
  }

  set(name: string, value: string): void {
    const values = { ...this.#read(), [name]: value }
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 })
      atomicWriteFile(this.path, `${JSON.stringify(values, null, 2)}\n`, 0o600)
    } catch (error) {
      throw new IronError(
        'VAULT_UNWRITABLE',
        `Cannot write the credentials file ${this.path}: ${(error as Error).message}`,
        {
          hint: 'Make the config directory writable, or point IRON_CONFIG_DIR at one that is',
        },
      )
    }
  }

  delete(name: string): boolean {
    const values = this.#read()
    if (!(name in values)) return false
    delete values[name]
    atomicWriteFile(this.path, `${JSON.stringify(values, null, 2)}\n`, 0o600)
    return true
  }
}

/** For tests: secrets that live as long as the process. */
export class MemoryVault implements Vault {
  readonly backend = 'memory'
  readonly location = 'memory'
  readonly values = new Map<string, string>()
  get(name: string): string | undefined {
    return this.values.get(name)
  }
  set(name: string, value: string): void {
    this.values.set(name, value)
  }
  delete(name: string): boolean {
    return this.values.delete(name)
  }
}

const firstLine = (text: string) => text.split('\n')[0] ?? text
