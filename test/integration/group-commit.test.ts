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
})
