import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { IronConfig } from '../../src/config/config.js'
import { IronError } from '../../src/core/errors.js'
import { tempDirs } from '../helpers/temp.js'

describe('IronConfig', () => {
  it('resolves flag > IRON_* env > file > default, and says where each value came from', async () => {
    const dirs = tempDirs()
    const config = await IronConfig.load(dirs, { IRON_GATEWAY_HOST: '0.0.0.0' })
    expect(config.entry('gateway.port')).toMatchObject({
      value: 8788,
      source: 'default',
      env: 'IRON_GATEWAY_PORT',
    })
    await config.set('gateway.port', '9001')
    await config.set('gateway.host', '10.0.0.1')
    const reloaded = await IronConfig.load(dirs, { IRON_GATEWAY_HOST: '0.0.0.0' })
    expect(reloaded.entry('gateway.port')).toMatchObject({ value: 9001, source: 'file' })
    expect(reloaded.entry('gateway.host')).toMatchObject({ value: '0.0.0.0', source: 'env' })
    expect(reloaded.entry('gateway.host', '127.0.0.2')).toMatchObject({ value: '127.0.0.2', source: 'flag' })
    expect(reloaded.entry('db').value).toBe(`${dirs.dataDir}/iron.db`)
  })

  it('writes nested JSON, readable by its owner only, and never creates the file just by reading', async () => {
    const dirs = tempDirs()
    const config = await IronConfig.load(dirs, {})
    config.list()
    expect(() => statSync(config.path)).toThrow()
    await config.set('gateway.port', '9002')
    expect(JSON.parse(readFileSync(config.path, 'utf8'))).toEqual({ gateway: { port: 9002 } })
    expect(statSync(config.path).mode & 0o777).toBe(0o600)
    expect(await config.unset('gateway.port')).toBe(true)
    expect(await config.unset('gateway.port')).toBe(false)
    expect(JSON.parse(readFileSync(config.path, 'utf8'))).toEqual({})
  })

  it('rejects an invalid value with a usage error and writes nothing', async () => {
    const dirs = tempDirs()
    const config = await IronConfig.load(dirs, {})
    await config.set('gateway.port', '9003')
    const before = readFileSync(config.path, 'utf8')
    for (const [key, value] of [
      ['gateway.port', 'eighty'],
      ['gateway.port', '70000'],
      ['credential_store', 'vault'],
      ['timezone', 'Mars/Olympus'],
      ['server', 'ftp://example.com'],
    ] as const) {
      const error = await config.set(key, value).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(IronError)
      expect((error as IronError).exitCode).toBe(2)
      expect((error as IronError).message).toContain(key)
    }
    expect(readFileSync(config.path, 'utf8')).toBe(before)
  })

  it('names the variable when an environment value is invalid, and the file when the file is', async () => {
    const dirs = tempDirs()
    const fromEnv = await IronConfig.load(dirs, { IRON_GATEWAY_PORT: 'abc' })
    expect(() => fromEnv.get('gateway.port')).toThrow(/IRON_GATEWAY_PORT/)

    mkdirSync(dirs.configDir, { recursive: true })
    writeFileSync(`${dirs.configDir}/config.json`, JSON.stringify({ gateway: { port: 'x' } }))
    const fromFile = await IronConfig.load(dirs, {})
    try {
      fromFile.get('gateway.port')
      expect.unreachable()
    } catch (error) {
      expect((error as IronError).message).toContain('config.json')
      expect((error as IronError).hint).toContain('iron config set gateway.port')
    }

    writeFileSync(`${dirs.configDir}/config.json`, '{not json')
    const broken = await IronConfig.load(dirs, {}).catch((e: unknown) => e)
    expect(broken).toBeInstanceOf(IronError)
    expect((broken as IronError).code).toBe('CONFIG_UNREADABLE')
  })
})
