import { statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  connectServer,
  envApiToken,
  forgetLogin,
  loginVault,
  readLogin,
  serverInEffect,
  storeLogin,
} from '../../src/client/context.js'
import { IronConfig } from '../../src/config/config.js'
import { CREDENTIALS_FILE, type Env } from '../../src/config/paths.js'
import { FileVault, MemoryVault } from '../../src/config/vault.js'
import type { IronError } from '../../src/core/errors.js'
import { newSecret } from '../../src/core/secrets.js'
import { tempDirs } from '../helpers/temp.js'

async function config(env: Env = {}, file?: string) {
  const dirs = tempDirs()
  const loaded = await IronConfig.load(dirs, env)
  if (file) await loaded.set('server', file)
  return IronConfig.load(dirs, env)
}

const thrown = (fn: () => unknown): IronError => {
  try {
    fn()
  } catch (error) {
    return error as IronError
  }
  throw new Error('expected an error')
}

describe('the server in effect (the context)', () => {
  it('none by default: commands use the local store', async () => {
    expect(serverInEffect(await config())).toBeUndefined()
  })

  it('--server > IRON_SERVER > the config file, each in one spelling', async () => {
    const c = await config({ IRON_SERVER: 'http://env.example:8787/' }, 'https://file.example/')
    expect(serverInEffect(c, { server: 'https://FLAG.example' })).toEqual({
      url: 'https://flag.example',
      source: 'flag',
    })
    expect(serverInEffect(c)).toEqual({ url: 'http://env.example:8787', source: 'env' })
    expect(serverInEffect(await config({}, 'https://file.example/'))).toEqual({
      url: 'https://file.example',
      source: 'file',
    })
  })

  it('--db means the local store whatever the context; with --server it is a usage error', async () => {
    const c = await config({ IRON_SERVER: 'http://env.example' }, 'https://file.example')
    expect(serverInEffect(c, { db: '/tmp/x.db' })).toBeUndefined()
    const both = thrown(() => serverInEffect(c, { db: '/tmp/x.db', server: 'https://x' }))
    expect(both).toMatchObject({ code: 'CONFLICTING_FLAGS', exitCode: 2 })
  })

  it('a bad URL is a usage error', async () => {
    const c = await config()
    expect(thrown(() => serverInEffect(c, { server: 'ftp://x' })).exitCode).toBe(2)
  })
})

describe('the login in the vault', () => {
  it('is kept per server in the 0600 credentials file (file mode), never in the config file', async () => {
    const c = await config({ IRON_CREDENTIAL_STORE: 'file' })
    const vault = loginVault(c)
    expect(vault.backend).toBe('file')
    expect(vault.location).toBe(join(c.dirs.configDir, CREDENTIALS_FILE))
    const token = newSecret('st')
    storeLogin(vault, { server: 'https://a.example', user: 'alice', via: 'session', token, expires_at: null })
    expect(statSync(vault.location).mode & 0o777).toBe(0o600)
    expect(readLogin(new FileVault(vault.location), 'https://a.example')).toMatchObject({
      user: 'alice',
      token,
    })
    expect(readLogin(vault, 'https://b.example')).toBeUndefined()
    expect(forgetLogin(vault, 'https://a.example')).toBe(true)
    expect(readLogin(vault, 'https://a.example')).toBeUndefined()
  })

  it('auto uses the keychain when it answers, else the file', async () => {
    const c = await config({ IRON_CREDENTIAL_STORE: 'auto' })
    const keychain = new MemoryVault()
    expect(loginVault(c, () => ({ ok: true, vault: keychain as never }))).toBe(keychain)
    expect(loginVault(c, () => ({ ok: false, reason: 'no D-Bus' })).backend).toBe('file')
    const strict = await config({ IRON_CREDENTIAL_STORE: 'keyring' })
    expect(thrown(() => loginVault(strict, () => ({ ok: false, reason: 'no D-Bus' }))).code).toBe(
      'VAULT_UNAVAILABLE',
    )
  })

  it('IRON_TOKEN counts only when it holds an API token (an agent’s IC token there is iron run’s)', () => {
    const at = newSecret('at')
    expect(envApiToken({ IRON_TOKEN: ` ${at}\n` })).toBe(at)
    expect(envApiToken({ IRON_TOKEN: newSecret('ic') })).toBeUndefined()
    expect(envApiToken({})).toBeUndefined()
  })

  it('without a credential for the server, commands fail before any request and say how to sign in', async () => {
    const c = await config({}, 'https://team.example')
    const server = serverInEffect(c)!
    const error = thrown(() => connectServer(c, server, { vault: new MemoryVault(), env: {} }))
    expect(error).toMatchObject({ code: 'NOT_SIGNED_IN', exitCode: 4 })
    expect(error.message).toBe('Not signed in to https://team.example (from config server)')
    expect(error.hint).toContain('iron login https://team.example')
    expect(error.hint).toContain('iron config unset server')
    const withToken = connectServer(c, server, {
      vault: new MemoryVault(),
      env: { IRON_TOKEN: newSecret('at') },
    })
    expect(withToken.url).toBe('https://team.example')
    await withToken.close()
  })
})
