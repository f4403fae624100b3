import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { authError, IronError } from '../core/errors.js'
import type { Env } from './paths.js'
import { type FileVault, KeyringVault, type Vault } from './vault.js'

export const MASTER_KEY_NAME = 'master-key'
export const MASTER_KEY_ENV = 'IRON_MASTER_KEY'

export type CredentialStoreMode = 'auto' | 'keyring' | 'file'

export interface MasterKey {
  key: Buffer
  source: 'env' | 'keyring' | 'file' | 'memory'
  location: string
  /** Set when this call created the key. */
  created: boolean
  /** Said once, when the key had to go to a file because there is no keychain. */
  warning?: string
}

export interface MasterKeySources {
  env: Env
  mode: CredentialStoreMode
  file: FileVault
  /** Tests pass a MemoryVault here, which replaces the keychain and the file. */
  vault?: Vault
  /** Reaches the OS keychain; replaceable in tests. */
  keyring?: () => { ok: true; vault: Vault } | { ok: false; reason: string }
}

/** Decode a master key given as base64/base64url (32 bytes) or 64 hex digits. */
export function decodeMasterKey(text: string, origin: string): Buffer {
  const raw = text.trim()
  const key = /^[0-9a-f]{64}$/i.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64url')
  if (key.length !== 32 || !/^[A-Za-z0-9+/_=-]+$/.test(raw)) {
    throw new IronError(
      'MASTER_KEY_INVALID',
      `The master key in ${origin} is not 32 bytes of base64 or 64 hex digits`,
      {
        hint: 'Use the exact value iron created (shown by your keychain or the credentials file), or generate one with: openssl rand -base64 32',
      },
    )
  }
  return key
}

export const encodeMasterKey = (key: Buffer): string => key.toString('base64url')

/** A value stored beside the data that proves a key is the one the store was set up with, without revealing it. */
export const masterKeyCheck = (key: Buffer): string =>
  createHmac('sha256', key).update('iron:master-key-check:v1').digest('hex')

export function verifyMasterKey(key: MasterKey, expectedCheck: string): void {
  const actual = Buffer.from(masterKeyCheck(key.key), 'hex')
  const expected = Buffer.from(expectedCheck, 'hex')
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw authError(
      'MASTER_KEY_MISMATCH',
      `The master key from ${key.location} is not the one this store was set up with, so its provider keys cannot be decrypted`,
      key.source === 'env'
        ? `Set ${MASTER_KEY_ENV} to the key used when the store was created, or unset it to use the stored key`
        : `Restore the original key (or set ${MASTER_KEY_ENV} to it); iron never replaces a store's key on its own`,
    )
  }
}

/** Finds or creates the master key: IRON_MASTER_KEY, else the OS keychain, else a 0600 file. */
export class MasterKeyResolver {
  constructor(private readonly sources: MasterKeySources) {}

  /** Where a key kept in a file (or the test vault) lives. */
  get fileLocation(): string {
    return this.sources.vault?.location ?? this.sources.file.location
  }

  #keyring(): { ok: true; vault: Vault } | { ok: false; reason: string } {
    return (this.sources.keyring ?? KeyringVault.probe)()
  }

  /** The existing key, or undefined when there is none yet. */
  find(): MasterKey | undefined {
    const { env, mode, file, vault } = this.sources
    const fromEnv = env[MASTER_KEY_ENV]
    if (fromEnv) {
      return {
        key: decodeMasterKey(fromEnv, MASTER_KEY_ENV),
        source: 'env',
        location: MASTER_KEY_ENV,
        created: false,
      }
    }
    if (vault) {
      const value = vault.get(MASTER_KEY_NAME)
      return value === undefined ? undefined : this.#fromVault(vault, value)
    }
    if (mode !== 'file') {
      const keyring = this.#keyring()
      if (keyring.ok) {
        const value = keyring.vault.get(MASTER_KEY_NAME)
        if (value !== undefined) return this.#fromVault(keyring.vault, value)
      } else if (mode === 'keyring') {
        throw keyringUnavailable(keyring.reason)
      }
    }
    if (mode !== 'keyring') {
      const value = file.get(MASTER_KEY_NAME)
      if (value !== undefined) return this.#fromVault(file, value)
    }
    return undefined
  }

  /** The existing key, or a new one stored in the keychain (or, without one, the file). */
  ensure(): MasterKey {
    const existing = this.find()
    if (existing) return existing
    const key = randomBytes(32)
    const { mode, file, vault } = this.sources
    if (vault) {
      vault.set(MASTER_KEY_NAME, encodeMasterKey(key))
      return { ...this.#fromVault(vault, encodeMasterKey(key)), created: true }
    }
    let reason = 'IRON_CREDENTIAL_STORE=file'
    if (mode !== 'file') {
      const keyring = this.#keyring()
      if (keyring.ok) {
        try {
          keyring.vault.set(MASTER_KEY_NAME, encodeMasterKey(key))
          return { key, source: 'keyring', location: keyring.vault.location, created: true }
        } catch (error) {
          reason = (error as Error).message
        }
      } else {
        reason = keyring.reason
      }
      if (mode === 'keyring') throw keyringUnavailable(reason)
    }
    file.set(MASTER_KEY_NAME, encodeMasterKey(key))
    return {
      key,
      source: 'file',
      location: file.location,
      created: true,
      warning:
        mode === 'file'
          ? undefined
          : `No OS keychain is reachable (${reason}); the master key was written to ${file.location} (mode 0600). Back it up: without it, stored provider keys cannot be decrypted.`,
    }
  }

  #fromVault(vault: Vault, value: string): MasterKey {
    return {
      key: decodeMasterKey(value, vault.location),
      source: vault.backend,
      location: vault.location,
      created: false,
    }
  }
}

const keyringUnavailable = (reason: string) =>
  new IronError('VAULT_UNAVAILABLE', `The OS keychain is not reachable: ${reason}`, {
    hint: `Use IRON_CREDENTIAL_STORE=file (a 0600 file in the config dir), or set ${MASTER_KEY_ENV}`,
  })
