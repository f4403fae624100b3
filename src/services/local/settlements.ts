import { isFile, Journal, journalDirOf } from '../../store/journal.js'
import type { DrawRequest, SettleResult } from '../api.js'
import type { RequestRecord } from '../gateway-control.js'
import type { LocalAudit } from './audit.js'
import type { LocalBudgets } from './budgets.js'
import { auditRequest, recordDataJson } from './request-audit.js'

/** A request a local gateway answered: its draw on the ledger and its record, as its journal keeps them. */
export interface Settlement {
  draw: DrawRequest
  record: RequestRecord
}

interface Writers {
  budgets: LocalBudgets
  audit: LocalAudit
}

/** A request's record: its audit event. */
export function writeRecord(audit: LocalAudit, record: RequestRecord): void {
  auditRequest(audit, record, {
    actor: record.agent_id ? `agent:${record.agent_id}` : 'anonymous',
    agent_id: record.agent_id,
    data: recordDataJson(record),
  })
}

/** Charge a request and write its record, inside the caller's transaction (`audit` off only in benchmarks). */
export function writeSettlement(cp: Writers, settlement: Settlement, audit = true): SettleResult {
  const result = cp.budgets.drawSync(settlement.draw)
  settlement.record.cost_micros = result.charged_micros
  if (audit) writeRecord(cp.audit, settlement.record)
  return result
}

/** The journal a gateway on the store at `dbPath` keeps; what a dead one left in that file is written first. */
export function openSettlementJournal(dbPath: string, cp: Writers): Journal<Settlement> {
  return Journal.open<Settlement>(journalDirOf(dbPath), (left) => writeLeftovers(cp, left))
}

/**
 * What local gateways that died (kill -9, a crash) had answered but not yet written: written now, in one
 * transaction per journal, each request once (one the store already has is skipped). Every process that
 * opens the store runs this, and a gateway again before it gives back the leases of holders that went quiet.
 */
export function recoverSettlements(dbPath: string, cp: Writers): number {
  if (!isFile(dbPath)) return 0
  return Journal.recoverOrphans<Settlement>(journalDirOf(dbPath), (left) => writeLeftovers(cp, left))
}

/**
 * Each settlement in a transaction of its own. One the store refuses as it is (it never will take it) is
 * reported and dropped, so that it cannot stop every later process from opening the store; a busy store
 * leaves the whole journal for the next process.
 */
function writeLeftovers(cp: Writers, left: Settlement[]): void {
  for (const settlement of left) {
    try {
      cp.budgets.writer.now(() => {
        if (!cp.budgets.drawnSync(settlement.draw)) writeSettlement(cp, settlement)
      })
    } catch (error) {
      if (String((error as { code?: unknown }).code ?? '').startsWith('SQLITE_BUSY')) throw error
      process.stderr.write(
        `iron: request ${settlement.record.id}, left by a gateway that stopped, cannot be written and is dropped: ${(error as Error).message}\n`,
      )
    }
  }
}
