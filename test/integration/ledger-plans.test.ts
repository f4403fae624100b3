import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openDb } from '../../src/store/db.js'
import { LEASE_HOLD_LOOKUPS } from '../../src/store/lease-holds.js'
import { LEDGER_LOOKUPS, RECENT_SPEND_LOOKUPS } from '../../src/store/ledger.js'
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

  // Budget views run it for every agent: it must read the agent's few holds, not its period's ledger rows.
  it('what gateways hold in flight is found from lease_holds, each lease by the reservation index', () => {
    const steps = (
      db
        .prepare(`EXPLAIN QUERY PLAN ${LEASE_HOLD_LOOKUPS.heldInPeriod}`)
        .all({ agent_id: 'x', start: 0, end: 1 }) as Array<{ detail: string }>
    ).map((row) => row.detail)
    expect(steps[0]).toContain('USING INDEX lease_holds_agent')
    expect(steps.filter((step) => step.includes('ledger_agent_counted'))).toEqual([])
    expect(steps.filter((step) => step.includes('USING INDEX ledger_reservation'))).toHaveLength(2)
    expect(steps.filter((step) => step.startsWith('SCAN'))).toEqual([])
  })

  // Lease grants measure recent spend: the newest rows in index order, never a sort of the agent's period.
  it.each(Object.entries(RECENT_SPEND_LOOKUPS))(
    '%s reads the newest rows of ledger_agent_counted',
    (_name, sql) => {
      const steps = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('x', 0, 1) as Array<{ detail: string }>).map(
        (row) => row.detail,
      )
      expect(steps).toHaveLength(1)
      expect(steps[0]).toMatch(
        /^SEARCH ledger USING INDEX ledger_agent_counted \(agent_id=\? AND counted_at[=>]\?\)$/,
      )
    },
  )

  it('a lookup without the condition would scan (the check above can fail)', () => {
    expect(plan('SELECT seq FROM ledger WHERE reservation_id = ?')).toContain('SCAN ledger')
  })
})
