import type { Db, Statement } from './db.js'

export interface BudgetRow {
  agent_id: string
  limit_micros: number | null
  period: 'none' | 'daily' | 'weekly' | 'monthly'
  timezone: string
  on_insufficient: 'reject' | 'clamp'
  alert_thresholds: string
  period_start: number
  period_end: number | null
  spent_micros: number
  reserved_micros: number
  leased_micros: number
  alerted_pct: number
  created_at: number
  updated_at: number
}

export type LedgerKind = 'reserve' | 'commit' | 'release' | 'adjust' | 'lease_grant' | 'lease_return'

export interface LedgerRow {
  seq?: number
  agent_id: string
  kind: LedgerKind
  reservation_id: string | null
  lease_id: string | null
  spent_delta: number
  reserved_delta: number
  leased_delta: number
  counted_at: number
  at: number
  holder: string | null
  model: string | null
  provider: string | null
  input_tokens: number | null
  output_tokens: number | null
  cached_tokens: number | null
  cost_known: number | null
  overrun_micros: number | null
  note: string | null
}

export interface BudgetWithStatus extends BudgetRow {
  /** The agent's status: only active agents are lent budget. */
  status: string
}

export interface Sums {
  spent: number
  reserved: number
  leased: number
  rows: number
}

const BUDGET_COLUMNS =
  'agent_id, limit_micros, period, timezone, on_insufficient, alert_thresholds, period_start, period_end, spent_micros, reserved_micros, leased_micros, alerted_pct, created_at, updated_at'
const LEDGER_COLUMNS =
  'agent_id, kind, reservation_id, lease_id, spent_delta, reserved_delta, leased_delta, counted_at, at, holder, model, provider, input_tokens, output_tokens, cached_tokens, cost_known, overrun_micros, note'

/**
 * The rows that open and close a reservation or a lease carry no lease_id (only a lease's draws do), and
 * `lease_id IS NULL` is what lets SQLite use the partial index ledger_reservation: without it, finding a
 * reservation reads the whole ledger.
 */
const OPEN_OR_CLOSE = 'lease_id IS NULL'

/** Lookups that must stay index searches as the ledger grows (a test checks their query plans). */
export const LEDGER_LOOKUPS = {
  reservationRows: `SELECT seq, ${LEDGER_COLUMNS} FROM ledger WHERE reservation_id = ? AND ${OPEN_OR_CLOSE}`,
  leaseReturned: `SELECT 1 FROM ledger r WHERE r.reservation_id = ? AND r.${OPEN_OR_CLOSE} AND r.kind = 'lease_return'`,
  reservationClosed: `SELECT 1 FROM ledger c WHERE c.reservation_id = ? AND c.${OPEN_OR_CLOSE} AND c.kind IN ('commit', 'release')`,
  /** The kinds of a reservation's or lease's opening and closing rows (every settlement asks whether its lease is open). */
  reservationKinds: `SELECT kind FROM ledger WHERE reservation_id = ? AND ${OPEN_OR_CLOSE}`,
}

/**
 * An agent's newest spend rows, for sizing leases: an index search on ledger_agent_counted that reads at
 * most `limit` rows in index order (a test checks the plans). A draw counts at its lease's opening, so the
 * rows counted since a moment miss draws on older leases: `leaseSpend` reads one lease's own newest rows.
 */
export const RECENT_SPEND_LOOKUPS = {
  agentSpend: `SELECT spent_delta AS spent, at FROM ledger WHERE agent_id = ? AND counted_at >= ? AND spent_delta != 0
    ORDER BY counted_at DESC, seq DESC LIMIT ?`,
  leaseSpend: `SELECT spent_delta AS spent, at FROM ledger WHERE agent_id = ? AND counted_at = ? AND spent_delta != 0
    ORDER BY seq DESC LIMIT ?`,
}

/** Whether a draw on a lease is on the ledger: among the rows counted at its lease's opening, newest first. */
const DRAW_WRITTEN = `SELECT 1 FROM ledger WHERE agent_id = ? AND counted_at = ? AND reservation_id = ?
  AND kind = 'commit' ORDER BY counted_at DESC, seq DESC`

export interface SpendRow {
  spent: number
  at: number
}

/** Budgets and their ledger. Statements are prepared once: grants and draws are on the gateway's hot path. */
export class LedgerRepo {
  readonly #budget: Statement
  readonly #agentStatus: Statement
  readonly #insertBudget: Statement
  readonly #saveBudget: Statement
  readonly #saveBalances: Statement
  readonly #addToBalances: Statement
  readonly #insert: Statement
  readonly #reservationRows: Statement
  readonly #reservationKinds: Statement
  readonly #sums: Statement
  readonly #sumsOpenEnded: Statement
  readonly #leaseMoves: Statement
  readonly #agentSpend: Statement
  readonly #leaseSpend: Statement

  constructor(readonly db: Db) {
    this.#budget = db.prepare(`SELECT ${BUDGET_COLUMNS} FROM budgets WHERE agent_id = ?`)
    this.#agentStatus = db.prepare('SELECT status FROM agents WHERE id = ?').pluck()
    this.#insertBudget = db.prepare(
      `INSERT INTO budgets (${BUDGET_COLUMNS}) VALUES (@agent_id, @limit_micros, @period, @timezone, @on_insufficient,
        @alert_thresholds, @period_start, @period_end, @spent_micros, @reserved_micros, @leased_micros, @alerted_pct,
        @created_at, @updated_at)`,
    )
    this.#saveBudget = db.prepare(
      `UPDATE budgets SET limit_micros = @limit_micros, period = @period, timezone = @timezone,
        on_insufficient = @on_insufficient, alert_thresholds = @alert_thresholds, period_start = @period_start,
        period_end = @period_end, spent_micros = @spent_micros, reserved_micros = @reserved_micros,
        leased_micros = @leased_micros, alerted_pct = @alerted_pct, updated_at = @updated_at WHERE agent_id = @agent_id`,
    )
    this.#saveBalances = db.prepare(
      `UPDATE budgets SET spent_micros = ?, reserved_micros = ?, leased_micros = ?, alerted_pct = ?, updated_at = ?
        WHERE agent_id = ?`,
    )
    this.#addToBalances = db.prepare(
      `UPDATE budgets SET spent_micros = spent_micros + ?, leased_micros = leased_micros + ?, updated_at = ?
        WHERE agent_id = ? AND period_start <= ? AND (period_end IS NULL OR ? < period_end) RETURNING ${BUDGET_COLUMNS}`,
    )
    this.#insert = db.prepare(
      `INSERT INTO ledger (${LEDGER_COLUMNS}) VALUES (${LEDGER_COLUMNS.replace(/\w+/g, '?')})`,
    )
    this.#reservationRows = db.prepare(LEDGER_LOOKUPS.reservationRows)
    this.#reservationKinds = db.prepare(LEDGER_LOOKUPS.reservationKinds).pluck()
    const sums = `SELECT coalesce(sum(spent_delta), 0) AS spent, coalesce(sum(reserved_delta), 0) AS reserved,
      coalesce(sum(leased_delta), 0) AS leased, count(*) AS rows FROM ledger WHERE agent_id = ? AND counted_at >= ?`
    this.#sums = db.prepare(`${sums} AND counted_at < ?`)
    this.#sumsOpenEnded = db.prepare(sums)
    this.#leaseMoves = db
      .prepare(
        'SELECT coalesce(sum(leased_delta), 0) FROM ledger WHERE agent_id = ? AND counted_at = ? AND lease_id = ?',
      )
      .pluck()
    this.#agentSpend = db.prepare(RECENT_SPEND_LOOKUPS.agentSpend)
    this.#leaseSpend = db.prepare(RECENT_SPEND_LOOKUPS.leaseSpend)
  }

  /** The agent's newest rows that moved spend among those counted since `since` (at most `limit`). */
  spendCountedSince(agentId: string, since: number, limit: number): SpendRow[] {
    return this.#agentSpend.all(agentId, since, limit) as SpendRow[]
  }

  /** The newest rows that moved spend among those counted at `countedAt`: a lease's draws (at most `limit`). */
  spendCountedAt(agentId: string, countedAt: number, limit: number): SpendRow[] {
    return this.#leaseSpend.all(agentId, countedAt, limit) as SpendRow[]
  }

  budget(agentId: string): BudgetRow | undefined {
    return this.#budget.get(agentId) as BudgetRow | undefined
  }

  budgetWithStatus(agentId: string): BudgetWithStatus | undefined {
    const status = this.#agentStatus.get(agentId) as string | undefined
    const budget = status === undefined ? undefined : this.budget(agentId)
    return budget && { ...budget, status: status! }
  }

  /** The highest limit the agent's owner may set (what an admin set or approved); null: no cap. */
  grantedLimit(agentId: string): number | null {
    return (this.db
      .prepare('SELECT granted_limit_micros FROM budgets WHERE agent_id = ?')
      .pluck()
      .get(agentId) ?? null) as number | null
  }

  setGrantedLimit(agentId: string, micros: number | null): void {
    this.db.prepare('UPDATE budgets SET granted_limit_micros = ? WHERE agent_id = ?').run(micros, agentId)
  }

  insertBudget(row: BudgetRow): void {
    this.#insertBudget.run(row)
  }

  saveBudget(row: BudgetRow): void {
    this.#saveBudget.run(row)
  }

  /**
   * Add to the cached spent and leased balances if `countedAt` falls in the cached period; returns the
   * updated row, or undefined when it does not (the caller reads the row instead).
   */
  addToBalances(
    agentId: string,
    spentDelta: number,
    leasedDelta: number,
    countedAt: number,
    now: number,
  ): BudgetRow | undefined {
    return this.#addToBalances.get(spentDelta, leasedDelta, now, agentId, countedAt, countedAt) as
      | BudgetRow
      | undefined
  }

  saveBalances(row: BudgetRow): void {
    this.#saveBalances.run(
      row.spent_micros,
      row.reserved_micros,
      row.leased_micros,
      row.alerted_pct,
      row.updated_at,
      row.agent_id,
    )
  }

  append(row: LedgerRow): void {
    // Positional, in LEDGER_COLUMNS' order (every settlement appends a row: no array is built for it).
    this.#insert.run(
      row.agent_id,
      row.kind,
      row.reservation_id,
      row.lease_id,
      row.spent_delta,
      row.reserved_delta,
      row.leased_delta,
      row.counted_at,
      row.at,
      row.holder,
      row.model,
      row.provider,
      row.input_tokens,
      row.output_tokens,
      row.cached_tokens,
      row.cost_known,
      row.overrun_micros,
      row.note,
    )
  }

  /** A reservation's opening row and, once settled, its closing row. */
  /** Whether the draw of request `reservationId` on a lease counted at `countedAt` is on the ledger. */
  drawWritten(agentId: string, countedAt: number, reservationId: string): boolean {
    return this.db.prepare(DRAW_WRITTEN).get(agentId, countedAt, reservationId) !== undefined
  }

  reservation(reservationId: string): { open: LedgerRow | undefined; close: LedgerRow | undefined } {
    const rows = this.#reservationRows.all(reservationId) as LedgerRow[]
    const opens = (row: LedgerRow) => row.kind === 'reserve' || row.kind === 'lease_grant'
    return { open: rows.find(opens), close: rows.find((row) => !opens(row)) }
  }

  /** Balances derived from the rows counted in [start, end). */
  sums(agentId: string, start: number, end: number | null): Sums {
    return (
      end === null ? this.#sumsOpenEnded.get(agentId, start) : this.#sums.get(agentId, start, end)
    ) as Sums
  }

  history(agentId: string, options: { limit: number; since?: number }): LedgerRow[] {
    return this.db
      .prepare(
        `SELECT seq, ${LEDGER_COLUMNS} FROM ledger WHERE agent_id = ? AND at >= ? ORDER BY seq DESC LIMIT ?`,
      )
      .all(agentId, options.since ?? 0, options.limit) as LedgerRow[]
  }

  listBudgets(): BudgetRow[] {
    return this.db
      .prepare(
        `SELECT ${BUDGET_COLUMNS.split(', ')
          .map((c) => `b.${c}`)
          .join(
            ', ',
          )} FROM budgets b JOIN agents a ON a.id = b.agent_id WHERE a.deleted_at IS NULL ORDER BY a.name`,
      )
      .all() as BudgetRow[]
  }

  /** Leases not yet returned (for a holder, or all): their opening rows. */
  openLeases(holder?: string): LedgerRow[] {
    const byHolder = holder === undefined ? '' : 'AND g.holder = ?'
    return this.db
      .prepare(
        `SELECT g.seq, ${LEDGER_COLUMNS.split(', ')
          .map((c) => `g.${c}`)
          .join(', ')} FROM ledger g WHERE g.kind = 'lease_grant' AND g.${OPEN_OR_CLOSE} ${byHolder}
          AND NOT EXISTS (${LEDGER_LOOKUPS.leaseReturned.replace('?', 'g.reservation_id')})`,
      )
      .all(...(holder === undefined ? [] : [holder])) as LedgerRow[]
  }

  /**
   * Whether a lease was granted and not yet returned (an index search): its one row is the grant (a lease
   * has at most one opening row and one closing row, as the unique index ledger_reservation makes sure).
   */
  leaseOpen(leaseId: string): boolean {
    const kinds = this.#reservationKinds.all(leaseId) as string[]
    return kinds.length === 1 && kinds[0] === 'lease_grant'
  }

  /**
   * What a lease still holds: its grant, plus its top-ups, minus what requests drew from it (the rows that
   * name the lease share its agent and counted_at, which are indexed).
   */
  leaseOutstanding(lease: LedgerRow): number {
    const moved = this.#leaseMoves.get(lease.agent_id, lease.counted_at, lease.reservation_id) as number
    return lease.leased_delta + moved
  }

  /** Reservations (written by gateways from before leases) no commit or release has closed (for a holder, or all). */
  openReservations(holder?: string): LedgerRow[] {
    const byHolder = holder === undefined ? '' : 'AND r.holder = ?'
    return this.db
      .prepare(
        `SELECT r.seq, ${LEDGER_COLUMNS.split(', ')
          .map((c) => `r.${c}`)
          .join(', ')} FROM ledger r WHERE r.kind = 'reserve' ${byHolder}
          AND NOT EXISTS (${LEDGER_LOOKUPS.reservationClosed.replace('?', 'r.reservation_id')})`,
      )
      .all(...(holder === undefined ? [] : [holder])) as LedgerRow[]
  }
}
