import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { IRON_APPLICATION_ID, LATEST_SCHEMA_VERSION, openDb, schemaVersion } from '../../src/store/db.js'
import { ROOT } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const expectIronError = (fn: () => unknown, code: string) => {
  try {
    fn()
    expect.unreachable(`expected ${code}`)
  } catch (error) {
    expect(error).toBeInstanceOf(IronError)
    expect((error as IronError).code).toBe(code)
    expect((error as IronError).hint).toBeTruthy()
    return error as IronError
  }
}

describe('openDb', () => {
  it('creates the directory and the store, in WAL mode with foreign keys, at the latest schema', () => {
    const path = join(tempDir(), 'nested', 'dir', 'iron.db')
    const db = openDb(path)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1)
    expect(db.pragma('application_id', { simple: true })).toBe(IRON_APPLICATION_ID)
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION)
    db.close()
    const again = openDb(path)
    expect(schemaVersion(again)).toBe(LATEST_SCHEMA_VERSION)
    again.close()
  })

  it('creates the store and its -wal and -shm files 0600, in a 0700 directory, under umask 022', () => {
    const previous = process.umask(0o022)
    try {
      const dir = join(tempDir(), 'made-by-iron')
      const path = join(dir, 'iron.db')
      const db = openDb(path)
      db.exec('CREATE TABLE scratch (x INTEGER); INSERT INTO scratch VALUES (1)')
      const mode = (file: string) => (statSync(file).mode & 0o777).toString(8)
      expect(mode(dir)).toBe('700')
      expect([path, `${path}-wal`, `${path}-shm`].map(mode)).toEqual(['600', '600', '600'])
      db.close()
      // An existing store keeps its mode: doctor warns about it rather than iron changing it behind one's back.
      chmodSync(path, 0o640)
      openDb(path).close()
      expect(mode(path)).toBe('640')
    } finally {
      process.umask(previous)
    }
  })

  it('applies only pending migrations, in order', () => {
    const path = join(tempDir(), 'iron.db')
    const v1 = [{ version: 1, name: 'a', sql: 'CREATE TABLE a (x INTEGER) STRICT;' }]
    openDb(path, { migrations: v1 }).close()
    const v2 = [
      ...v1,
      { version: 2, name: 'b', sql: 'CREATE TABLE b (y TEXT) STRICT; INSERT INTO a VALUES (2);' },
    ]
    const db = openDb(path, { migrations: v2 })
    expect(schemaVersion(db)).toBe(2)
    expect(db.prepare('SELECT count(*) AS n FROM a').get()).toEqual({ n: 1 })
    db.close()
  })

  it('rolls back a failing migration completely', () => {
    const path = join(tempDir(), 'iron.db')
    const bad = [
      { version: 1, name: 'a', sql: 'CREATE TABLE a (x INTEGER) STRICT;' },
      { version: 2, name: 'broken', sql: 'CREATE TABLE b (y TEXT); SELECT * FROM missing_table;' },
    ]
    expect(() => openDb(path, { migrations: bad })).toThrow(IronError)
    const raw = new Database(path)
    expect(raw.pragma('user_version', { simple: true })).toBe(0)
    expect(raw.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get()).toEqual({
      n: 0,
    })
    raw.close()
  })

  it('refuses a store from a newer iron and leaves it untouched', () => {
    const path = join(tempDir(), 'iron.db')
    openDb(path).close()
    const raw = new Database(path)
    raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 5}`)
    raw.close()
    const error = expectIronError(() => openDb(path), 'STORE_TOO_NEW')
    expect(error.message).toContain(`schema v${LATEST_SCHEMA_VERSION + 5}`)
    const after = new Database(path)
    expect(after.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION + 5)
    after.close()
  })

  it('refuses a SQLite file of another application', () => {
    const path = join(tempDir(), 'other.db')
    const raw = new Database(path)
    raw.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)')
    raw.close()
    expectIronError(() => openDb(path), 'STORE_FOREIGN')
  })

  it('refuses a file that is not a database, or is damaged', () => {
    const dir = tempDir()
    const text = join(dir, 'notes.db')
    writeFileSync(
      text,
      'this is not a database, just some text that happens to be long enough to look like a header'.repeat(
        50,
      ),
    )
    expectIronError(() => openDb(text), 'STORE_CORRUPT')

    const damaged = join(dir, 'damaged.db')
    openDb(damaged).close()
    const bytes = Buffer.alloc(100, 0x41)
    writeFileSync(damaged, bytes)
    expectIronError(() => openDb(damaged), 'STORE_CORRUPT')
  })

  it('says so when the data directory cannot be created', () => {
    if (process.getuid?.() === 0) {
      // root ignores permissions; a file in the way of the directory fails the same way for everyone
      const dir = tempDir()
      writeFileSync(join(dir, 'blocker'), 'x')
      const error = expectIronError(() => openDb(join(dir, 'blocker', 'iron.db')), 'STORE_DIR_UNWRITABLE')
      expect(error.message).toContain('Cannot create the data directory')
      return
    }
    const dir = tempDir()
    mkdirSync(join(dir, 'locked'))
    chmodSync(join(dir, 'locked'), 0o500)
    const error = expectIronError(() => openDb(join(dir, 'locked', 'sub', 'iron.db')), 'STORE_DIR_UNWRITABLE')
    expect(error.message).toContain('permission denied')
  })

  it('is safe to open and migrate from several processes at once', async () => {
    const path = join(tempDir(), 'iron.db')
    const script = `
      import { openDb } from './src/store/db.ts'
      const db = openDb(process.argv[1])
      db.exec('CREATE TABLE IF NOT EXISTS hits (pid INTEGER)')
      for (let i = 0; i < 50; i++) db.transaction(() => db.prepare('INSERT INTO hits VALUES (?)').run(process.pid)).immediate()
      db.close()
    `
    const runs = Array.from(
      { length: 6 },
      () =>
        new Promise<number | null>((resolve) => {
          const child = spawn(
            process.execPath,
            ['--import', 'tsx', '--input-type=module', '-e', script, path],
            {
              cwd: ROOT,
              stdio: ['ignore', 'ignore', 'inherit'],
            },
          )
          child.on('close', resolve)
        }),
    )
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0, 0, 0])
    const db = openDb(path)
    expect(db.prepare('SELECT count(*) AS n FROM hits').get()).toEqual({ n: 300 })
    expect(schemaVersion(db)).toBe(LATEST_SCHEMA_VERSION)
    db.close()
  })
})
