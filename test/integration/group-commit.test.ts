import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { openDb } from '../../src/store/db.js'
import { GroupCommit } from '../../src/store/group-commit.js'
import { tempDir } from '../helpers/temp.js'

function store() {
  const path = join(tempDir('iron-group-commit'), 'test.db')
  const db = openDb(path, {
    migrations: [
      { version: 1, name: 'notes', sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)' },
    ],
  })
  const insert = db.prepare('INSERT INTO notes (text) VALUES (?)')
  // Another connection, as another process would see the file.
  const reader = new Database(path, { readonly: true })
  const texts = () => reader.prepare('SELECT text FROM notes ORDER BY id').pluck().all()
  return { db, insert, texts, writer: new GroupCommit(db) }
}

describe('group commit', () => {
  it('commits writes of one turn together; a failing one undoes only its own rows', async () => {
    const { writer, insert, texts } = store()
    const results = await Promise.allSettled([
      writer.run(() => insert.run('a')),
      writer.run(() => {
        insert.run('half-written')
        throw new Error('fails after a write')
      }),
      writer.run(() => insert.run('b')),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(texts()).toEqual(['a', 'b'])
  })

  it('a lone write is committed before its promise settles, and a failing one leaves nothing', async () => {
    const { writer, insert, texts } = store()
    await writer.run(() => insert.run('alone'))
    expect(texts()).toEqual(['alone'])
    await expect(
      writer.run(() => {
        insert.run('half-written')
        throw new Error('fails after a write')
      }),
    ).rejects.toThrow('fails after a write')
    expect(texts()).toEqual(['alone'])
  })

  it('a store another process keeps locked past the busy timeout delays writes, never loses them', async () => {
    const path = join(tempDir('iron-group-commit'), 'busy.db')
    const db = openDb(path, {
      busyTimeoutMs: 20,
      migrations: [
        { version: 1, name: 'notes', sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)' },
      ],
    })
    const insert = db.prepare('INSERT INTO notes (text) VALUES (?)')
    const writer = new GroupCommit(db)
    // Another process's writer, holding the lock.
    const other = new Database(path, { timeout: 0 })
    other.exec('BEGIN IMMEDIATE')
    const first = writer.run(() => insert.run('first'))
    const together = [writer.run(() => insert.run('a')), writer.run(() => insert.run('b'))]
    let settled = false
    void Promise.allSettled([first, ...together]).then(() => (settled = true))
    // Several busy timeouts pass with the lock held: the writes wait.
    for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 20))
    expect(settled).toBe(false)
    other.exec('COMMIT')
    await Promise.all([first, ...together])
    expect(db.prepare('SELECT text FROM notes ORDER BY id').pluck().all()).toEqual(['first', 'a', 'b'])
    other.close()
  })
})
