import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openDb } from '../../src/store/db.js'
import { LEDGER_LOOKUPS } from '../../src/store/ledger.js'
import { tempDir } from '../helpers/temp.js'

// Finding a reservation runs on every settlement: a full read of the ledger there makes each request slower
// than the last. SQLite only uses the partial index ledger_reservation when the query states its condition.
describe('ledger lookups', () => {
  const db = openDb(join(tempDir(), 'iron.db'))
  const plan = (sql: string) =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('x') as Array<{ detail: string }>).map((row) => row.detail)

  it.each(Object.entries(LEDGER_LOOKUPS))('%s searches the reservation index', (_name, sql) => {
    const steps = plan(sql)
    expect(steps.some((step) => step.includes('USING INDEX ledger_reservation'))).toBe(true)
    expect(steps.filter((step) => step.startsWith('SCAN'))).toEqual([])
  })

  it('a lookup without the condition would scan (the check above can fail)', () => {
    expect(plan('SELECT seq FROM ledger WHERE reservation_id = ?')).toContain('SCAN ledger')
  })
})
