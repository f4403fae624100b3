import { statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IronConfig } from '../../src/config/config.js'
import { encodeMasterKey, MASTER_KEY_NAME, MasterKeyResolver } from '../../src/config/master-key.js'
import { FileVault, MemoryVault } from '../../src/config/vault.js'
import type { IronError } from '../../src/core/errors.js'
import { LocalContext } from '../../src/services/context.js'
import { tempDirs } from '../helpers/temp.js'

const noKeyring = () => ({ ok: false as const, reason: 'no D-Bus session' })

describe('master key', () => {
  it('falls back to a 0600 file with a one-time warning when no keychain answers', () => {
    const dirs = tempDirs()
    const file = new FileVault(join(dirs.configDir, 'credentials.json'))
    const resolver = new MasterKeyResolver({ env: {}, mode: 'auto', file, keyring: noKeyring })
    expect(resolver.find()).toBeUndefined()
    const created = resolver.ensure()
    expect(created).toMatchObject({ source: 'file', created: true })
    expect(created.warning).toContain('no D-Bus session')
    expect(statSync(file.path).mode & 0o777).toBe(0o600)
    const again = resolver.ensure()
    expect(again.created).toBe(false)
    expect(again.warning).toBeUndefined()
    expect(again.key.equals(created.key)).toBe(true)
  })

  it('uses the keychain when it answers', () => {
    const dirs = tempDirs()
    const keychain = new MemoryVault()
    const resolver = new MasterKeyResolver({
      env: {},
      mode: 'auto',
      file: new FileVault(join(dirs.configDir, 'credentials.json')),
      keyring: () => ({ ok: true, vault: keychain }),
    })
    const key = resolver.ensure()
    expect(key.created).toBe(true)
    expect(keychain.get(MASTER_KEY_NAME)).toBe(encodeMasterKey(key.key))
  })

  it('fails clearly when the keychain is forced but unreachable', () => {
    const dirs = tempDirs()
    const resolver = new MasterKeyResolver({
      env: {},
      mode: 'keyring',
      file: new FileVault(join(dirs.configDir, 'credentials.json')),
      keyring: noKeyring,
    })
    expect(() => resolver.ensure()).toThrow(/OS keychain is not reachable: no D-Bus session/)
  })

  it('takes IRON_MASTER_KEY first and rejects a malformed one', () => {
    const dirs = tempDirs()
    const file = new FileVault(join(dirs.configDir, 'credentials.json'))
    const hex = 'ab'.repeat(32)
    const key = new MasterKeyResolver({
      env: { IRON_MASTER_KEY: hex },
      mode: 'auto',
      file,
      keyring: noKeyring,
    }).ensure()
    expect(key).toMatchObject({ source: 'env', created: false })
    expect(key.key.toString('hex')).toBe(hex)
    expect(() =>
      new MasterKeyResolver({
        env: { IRON_MASTER_KEY: 'short' },
        mode: 'auto',
        file,
        keyring: noKeyring,
      }).find(),
    ).toThrow(/not 32 bytes/)
  })

  it('binds the store to its key: a different key or a missing one is refused, never replaced', async () => {
    const dirs = tempDirs()
    const config = await IronConfig.load(dirs, {})
    const vault = new MemoryVault()
    const first = new LocalContext({ config, env: {}, vault })
    const key = first.masterKey()
    first.close()

    const other = new LocalContext({ config, env: { IRON_MASTER_KEY: 'cd'.repeat(32) }, vault })
    const mismatch = (() => {
      try {
        other.masterKey()
      } catch (error) {
        return error as IronError
      }
    })()
    expect(mismatch?.code).toBe('MASTER_KEY_MISMATCH')
    expect(mismatch?.exitCode).toBe(4)
    other.close()

    const lost = new LocalContext({ config, env: {}, vault: new MemoryVault() })
    expect(() => lost.masterKey()).toThrow(/not in the keychain/)
    lost.close()

    const same = new LocalContext({
      config,
      env: { IRON_MASTER_KEY: key.toString('hex') },
      vault: new MemoryVault(),
    })
    expect(same.masterKey().equals(key)).toBe(true)
    same.close()
  })
})
