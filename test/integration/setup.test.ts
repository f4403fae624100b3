import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MemoryVault } from '../../src/config/vault.js'
import { initStore, runDoctor } from '../../src/services/setup.js'
import { LATEST_SCHEMA_VERSION } from '../../src/store/db.js'
import { tempContext } from '../helpers/temp.js'

describe('init and doctor', () => {
  it('init creates the store and key, and is idempotent', async () => {
    const { ctx, vault } = await tempContext()
    const first = initStore(ctx)
    expect(first.store).toMatchObject({ created: true, schema_version: LATEST_SCHEMA_VERSION })
    expect(first.master_key).toMatchObject({ backend: 'memory', created: true })
    expect(first.next_steps.length).toBeGreaterThan(2)
    // init writes no config file, and says so rather than listing one that is not there.
    expect(first.config_exists).toBe(false)
    expect(existsSync(first.config_path)).toBe(false)
    ctx.close()

    const { LocalContext } = await import('../../src/services/context.js')
    const again = new LocalContext({ config: ctx.config, env: {}, vault })
    const second = initStore(again)
    expect(second.store.created).toBe(false)
    expect(second.master_key.created).toBe(false)
    again.close()
  })

  it('doctor fails on a missing store and passes after init', async () => {
    const { ctx } = await tempContext()
    const before = runDoctor(ctx)
    expect(before.ok).toBe(false)
    expect(before.checks.find((c) => c.name === 'store')).toMatchObject({
      status: 'fail',
      hint: 'Run: iron init',
    })
    initStore(ctx)
    const after = runDoctor(ctx)
    expect(after.checks.filter((c) => c.status !== 'ok')).toEqual([])
    expect(after.ok).toBe(true)
    // Which store, its version and its migration level.
    expect(after.checks.find((c) => c.name === 'store')?.detail).toMatch(
      new RegExp(
        `^SQLite 3\\.\\d+\\.\\d+ at .*iron\\.db, schema v${LATEST_SCHEMA_VERSION} \\(current\\), wal journal$`,
      ),
    )
    ctx.close()
  })

  it('doctor warns, saying to chmod 600, when others can read the store or its -wal and -shm', async () => {
    const { ctx } = await tempContext()
    initStore(ctx)
    const files = [ctx.dbPath, `${ctx.dbPath}-wal`, `${ctx.dbPath}-shm`]
    // The context keeps the store open, so its -wal and -shm files exist.
    expect(files.every((f) => existsSync(f))).toBe(true)
    expect(runDoctor(ctx).checks.find((c) => c.name === 'store permissions')).toBeUndefined()

    chmodSync(ctx.dbPath, 0o644)
    const readable = runDoctor(ctx)
    expect(readable.ok).toBe(true)
    expect(readable.checks.find((c) => c.name === 'store permissions')).toEqual({
      name: 'store permissions',
      status: 'warn',
      detail: `other users can read or write ${ctx.dbPath} (mode 0644)`,
      hint: `Run: chmod 600 ${ctx.dbPath}`,
    })
    for (const file of files) chmodSync(file, 0o640)
    const all = runDoctor(ctx).checks.find((c) => c.name === 'store permissions')
    expect(all?.hint).toBe(`Run: chmod 600 ${files.join(' ')}`)
    expect(all?.detail).toContain(`${ctx.dbPath}-shm (mode 0640)`)
    ctx.close()
  })

  it('doctor warns when a gateway that stopped left answered requests in its journal, and names the command that writes them', async () => {
    const { ctx } = await tempContext()
    initStore(ctx)
    expect(runDoctor(ctx).checks.find((c) => c.name === 'store journal')).toBeUndefined()
    mkdirSync(`${ctx.dbPath}.pending`)
    writeFileSync(
      join(`${ctx.dbPath}.pending`, 'slot-3.log'),
      '{"draw":{},"record":{}}\n{"draw":{},"record":{}}\n',
    )
    expect(runDoctor(ctx).checks.find((c) => c.name === 'store journal')).toEqual({
      name: 'store journal',
      status: 'warn',
      detail: `2 requests a gateway answered before it stopped are not yet in ${ctx.dbPath}`,
      hint: 'Any iron command that uses the store writes them, e.g. iron audit verify',
    })
    ctx.close()
  })

  it('doctor reports an old node, a damaged store and a lost master key, each with what to do', async () => {
    const { ctx } = await tempContext()
    initStore(ctx)
    ctx.close()
    expect(runDoctor(ctx, '20.11.0').checks[0]).toMatchObject({ name: 'node', status: 'fail' })
    expect(runDoctor(ctx, '22.18.0').checks[0]).toMatchObject({ name: 'node', status: 'fail' })
    expect(runDoctor(ctx, '22.19.0').checks[0]).toMatchObject({ name: 'node', status: 'ok' })

    const { LocalContext } = await import('../../src/services/context.js')
    const lost = new LocalContext({ config: ctx.config, env: {}, vault: new MemoryVault() })
    expect(runDoctor(lost).checks.find((c) => c.name === 'master key')).toMatchObject({ status: 'fail' })

    chmodSync(ctx.dbPath, 0o600)
    writeFileSync(ctx.dbPath, Buffer.alloc(4096, 7))
    const damaged = runDoctor(ctx)
    expect(damaged.ok).toBe(false)
    expect(damaged.checks.find((c) => c.name === 'store')).toMatchObject({ status: 'fail' })
    expect(damaged.checks.find((c) => c.name === 'store')?.hint).toBeTruthy()
  })
})
