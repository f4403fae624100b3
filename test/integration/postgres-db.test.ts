import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { AuditRepo } from '../../src/store/audit.js'
import { PostgresDb } from '../../src/store/postgres-db.js'
import {
  freePort,
  type PostgresCluster,
  startMigratedPostgres,
  startPostgres,
} from '../../src/testing/postgres.js'

// PostgresDb, the store's Db on PostgreSQL, against a real server: statements written for SQLite, rows as
// SQLite gives them, transactions whose writes travel with the next statement that needs an answer.

let pg: PostgresCluster
let db: PostgresDb

beforeAll(async () => {
  pg = await startPostgres()
  db = new PostgresDb({ url: pg.url, label: 'test' })
  db.exec(`CREATE TABLE t (id text PRIMARY KEY, n bigint NOT NULL, blob bytea, flag integer)`)
})

afterAll(async () => {
  db?.close()
  await pg?.stop()
})

const ids = () => (db.prepare('SELECT id FROM t ORDER BY id').pluck().all() as string[]).join(',')

describe('PostgresDb', () => {
  it('takes ? and @name parameters and gives rows as SQLite does: numbers, 0/1, Buffers', () => {
    const blob = Buffer.from([0, 1, 2, 255])
    expect(
      db
        .prepare('INSERT INTO t (id, n, blob, flag) VALUES (@id, @n, @blob, @flag)')
        .run({ id: 'a', n: 1, blob, flag: 1 }).changes,
    ).toBe(1)
    const row = db
      .prepare(
        "SELECT id, n, blob, n > 0 AS positive, count(*) OVER () AS total, 'it''s ?' AS text FROM t WHERE id = ?",
      )
      .get('a') as Record<string, unknown>
    expect(row).toEqual({ id: 'a', n: 1, blob, positive: 1, total: 1, text: "it's ?" })
    expect(Buffer.isBuffer(row.blob)).toBe(true)
    expect(db.prepare('SELECT sum(n) FROM t').pluck().get()).toBe(1)
    db.exec('DELETE FROM t')
  })

  it("counts a transaction's writes when asked, and its reads see them", () => {
    const result = db
      .transaction(() => {
        db.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('a', 1)
        db.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('b', 1)
        const changed = db.prepare('UPDATE t SET n = n + 1 WHERE n = 1').run().changes
        return { changed, seen: ids() }
      })
      .immediate()
    expect(result).toEqual({ changed: 2, seen: 'a,b' })
    db.exec('DELETE FROM t')
  })

  it('a write that fails fails its transaction before it commits: nothing of it stays', () => {
    expect(() =>
      db
        .transaction(() => {
          db.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('c', 1)
          db.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('c', 2)
        })
        .immediate(),
    ).toThrow(/duplicate key/)
    expect(ids()).toBe('')
    // The connection is usable afterwards.
    db.transaction(() => db.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('d', 1)).immediate()
    expect(ids()).toBe('d')
    db.exec('DELETE FROM t')
  })

  it('a savepoint that fails is undone alone; the writes around it commit', () => {
    const outcome = db
      .transaction(() => {
        db.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('e', 1)
        let failed = ''
        try {
          db.transaction(() => {
            db.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('f', 1)
            db.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('e', 2)
          })()
        } catch (error) {
          failed = (error as Error).message
        }
        db.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('g', 1)
        return failed
      })
      .immediate()
    expect(outcome).toMatch(/duplicate key/)
    expect(ids()).toBe('e,g')
    db.exec('DELETE FROM t')
  })

  it('a body that throws rolls back what it wrote, sent or not', () => {
    expect(() =>
      db
        .transaction(() => {
          db.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('h', 1)
          expect(ids()).toBe('h')
          db.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('i', 1)
          throw new Error('changed my mind')
        })
        .immediate(),
    ).toThrow('changed my mind')
    expect(ids()).toBe('')
  })

  it("gives each write's count, also for writes that went out with a savepoint or the commit", () => {
    db.exec("INSERT INTO t (id, n) VALUES ('p', 1), ('q', 1)")
    const bump = db.prepare('UPDATE t SET n = n + 1 WHERE n >= 1')
    let beforeSavepoint: { changes: number } | undefined
    const last = db
      .transaction(() => {
        beforeSavepoint = bump.run()
        db.transaction(() => {})()
        return bump.run()
      })
      .immediate()
    expect([beforeSavepoint!.changes, last.changes]).toEqual([2, 2])
    db.exec('DELETE FROM t')
  })

  it('numbers ? and @name parameters outside quotes and comments, and refuses $n or both kinds at once', () => {
    const row = db
      .prepare("SELECT ?::int AS a, /* a '?' here */ ?::int AS b -- and it's ? there\n , '@x ?' AS c")
      .get(1, 2)
    expect(row).toEqual({ a: 1, b: 2, c: '@x ?' })
    expect(() => db.prepare('SELECT $1')).toThrow(/not \$n/)
    expect(() => db.prepare('SELECT ?, @a')).toThrow(/not both/)
  })

  it('a connection lost in the middle of a transaction commits nothing of it, even if the body goes on', async () => {
    db.exec('DELETE FROM t')
    const slow = new PostgresDb({ url: pg.url, label: 'slow', statementTimeoutMs: 500, connectTimeoutS: 1 })
    let pid = 0
    try {
      const insert = slow.prepare('INSERT INTO t (id, n) VALUES (?, 1)')
      const outcomes: string[] = []
      // As the group commit runs a batch again: each op in a savepoint, an op's error kept and the batch
      // going on. The second op's server stops answering (SIGSTOP), so the worker is given up and replaced.
      const ops = [
        () => insert.run('r'),
        () => {
          pid = slow.prepare('SELECT pg_backend_pid()').pluck().get() as number
          process.kill(pid, 'SIGSTOP')
          return slow.prepare('SELECT 1').get()
        },
        () => insert.run('s'),
      ]
      expect(() =>
        slow
          .transaction(() => {
            for (const op of ops) {
              try {
                slow.transaction(op)()
                outcomes.push('ok')
              } catch (error) {
                outcomes.push((error as IronError).code)
              }
            }
          })
          .immediate(),
      ).toThrow(/lost in the middle of a transaction/)
      expect(outcomes).toEqual(['ok', 'STORE_UNAVAILABLE', 'STORE_UNAVAILABLE'])
    } finally {
      if (pid) process.kill(pid, 'SIGCONT')
      slow.close()
    }
    expect(ids()).toBe('')
  })

  it('a closed store refuses statements (as better-sqlite3 does) instead of connecting again', () => {
    const closed = new PostgresDb({ url: pg.url, label: 'closed' })
    expect(closed.prepare('SELECT 1 AS one').pluck().get()).toBe(1)
    closed.close()
    expect(() => closed.prepare('SELECT 1').get()).toThrow('The database connection is not open')
  })

  it('a database that cannot be reached is STORE_UNAVAILABLE, an error people can act on', async () => {
    const down = new PostgresDb({ url: `postgres://iron@127.0.0.1:${await freePort()}/x`, label: 'down' })
    try {
      let caught: unknown
      try {
        down.prepare('SELECT 1').get()
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(IronError)
      expect(caught).toMatchObject({ code: 'STORE_UNAVAILABLE' })
    } finally {
      down.close()
    }
  })
})

describe('the audit chain on PostgresDb', () => {
  let migrated: PostgresCluster
  let store: PostgresDb
  beforeAll(async () => {
    migrated = await startMigratedPostgres()
    store = new PostgresDb({ url: migrated.url, label: 'audit' })
  })
  afterAll(async () => {
    store?.close()
    await migrated?.stop()
  })

  it('stays one chain when a transaction appends several events and rolls a savepoint of them back', () => {
    const repo = new AuditRepo(store)
    const other = new AuditRepo(store)
    const event = (action: string) => ({
      actor: 'test',
      action,
      outcome: 'success' as const,
      data: { action },
    })
    store
      .transaction(() => {
        repo.append(event('one'))
        other.append(event('two'))
        try {
          store.transaction(() => {
            repo.append(event('undone'))
            throw new Error('roll the savepoint back')
          })()
        } catch {
          // Expected: the savepoint is rolled back.
        }
        repo.append(event('three'))
      })
      .immediate()
    // A transaction that fails whole leaves nothing, and the next one chains onto what stands.
    expect(() =>
      store
        .transaction(() => {
          repo.append(event('lost'))
          throw new Error('roll it all back')
        })
        .immediate(),
    ).toThrow('roll it all back')
    store.transaction(() => repo.append(event('four'))).immediate()
    const rows = store
      .prepare('SELECT seq, action, prev_hash, hash FROM audit_events ORDER BY seq')
      .all() as {
      seq: number
      action: string
      prev_hash: string
      hash: string
    }[]
    expect(rows.map((r) => [r.seq, r.action])).toEqual([
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
      [4, 'four'],
    ])
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash)
  })
})
