import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { canonicalJson } from '../../core/canonical-json.js'
import { notFound, refused, usageError } from '../../core/errors.js'
import { looksLikeId, parseId } from '../../core/ids.js'
import type { AgentsRepo } from '../../store/agents.js'
import {
  type AuditFilter,
  type AuditRepo,
  type AuditRow,
  type CheckpointRow,
  chainHash,
  eventPayload,
  GENESIS_HASH,
  type NewAuditEvent,
} from '../../store/audit.js'
import type { Db } from '../../store/db.js'
import type {
  AuditApi,
  AuditEvent,
  AuditPage,
  AuditPruneResult,
  AuditQuery,
  AuditVerification,
  AuditVerifyOptions,
} from '../api.js'
import { authorize, ownerScope, type ServiceMethod } from '../authz.js'
import { currentPrincipal } from '../principal.js'
import { findAgent, iso } from './refs.js'

const MAX_PAGE = 1_000

/**
 * The audit trail: every service appends its mutations here, in the mutation's own transaction; the
 * gateway appends one event per request in the same savepoint as its usage row. Nothing updates or deletes
 * an event (SQLite triggers refuse it) except `prune`, which leaves a signed checkpoint of what it removed.
 */
export class LocalAudit implements AuditApi {
  constructor(
    private readonly db: Db,
    readonly repo: AuditRepo,
    private readonly agents: AgentsRepo,
    /** Who is acting in this process (`local:<user>` for commands). */
    readonly actor: string,
    private readonly masterKey: () => Buffer,
    private readonly now: () => number,
  ) {}

  /** Append an event; call inside the transaction of the change it records. */
  record(event: Omit<NewAuditEvent, 'actor'> & { actor?: string }): AuditRow {
    return this.repo.append({
      ...event,
      actor: event.actor ?? this.currentActor(),
      at: event.at ?? this.now(),
    })
  }

  /** Who acts now: the principal of a server request (`user:<name>`), else this process's actor. */
  currentActor(): string {
    return currentPrincipal()?.actor ?? this.actor
  }

  async list(query: AuditQuery & { limit?: number; cursor?: string }): Promise<AuditPage> {
    const filter = this.#filter(query, 'audit.list')
    const limit = Math.min(Math.max(Math.floor(query.limit ?? 50), 1), MAX_PAGE)
    const before = query.cursor === undefined ? 0 : parseCursor(query.cursor)
    const rows = [...this.repo.iterate(filter, before, limit + 1, true)]
    const page = rows.slice(0, limit)
    const named = this.#named()
    return {
      events: page.map((row) => named(view(row))),
      next_cursor: rows.length > limit ? `c${page.at(-1)!.seq}` : null,
    }
  }

  /** An event by its ID (`aud_…`) or by its sequence number (`19`, as `audit list` shows it first). */
  async get(ref: string): Promise<AuditEvent> {
    const visible = this.#filter({}, 'audit.get').visible_to
    const trimmed = ref.trim()
    const seq = /^#?(\d{1,15})$/.exec(trimmed)
    const row = seq
      ? this.#bySeq(Number(seq[1]))
      : looksLikeId(trimmed.toLowerCase(), 'aud')
        ? this.repo.byId(parseId(trimmed, 'aud'))
        : undefined
    // An event a user may not see is not there for them (the same error as a missing one).
    const mine = (r: AuditRow) =>
      !visible ||
      r.actor === visible.actor ||
      (r.agent_id !== null && this.#owned(r.agent_id, visible.owner_id))
    if (row && mine(row)) return this.#named()(view(row))
    const pruned = this.repo.checkpoints().at(-1)?.through_seq ?? 0
    throw notFound(
      'AUDIT_EVENT_NOT_FOUND',
      seq && Number(seq[1]) <= pruned
        ? `Audit event ${seq[1]} was pruned (events up to ${pruned} were removed)`
        : `No audit event '${trimmed}'`,
      seq || looksLikeId(trimmed.toLowerCase(), 'aud')
        ? 'List events with: iron audit list'
        : 'Give the sequence number (the first column of iron audit list) or the ID (aud_…)',
    )
  }

  /** Checked and limited to the caller when called (not when first read), whoever reads it later. */
  stream(query: AuditQuery & { after_seq?: number }): AsyncIterable<AuditEvent> {
    const filter = this.#filter(query, 'audit.stream')
    const { repo } = this
    const named = this.#named()
    return (async function* () {
      for (const row of repo.iterate(filter, query.after_seq ?? 0)) yield named(view(row))
    })()
  }

  /** The same, synchronously (for exports that write as they read). */
  iterate(query: AuditQuery & { after_seq?: number }): IterableIterator<AuditEvent> {
    const filter = this.#filter(query, 'audit.stream')
    const { repo } = this
    return (function* () {
      for (const row of repo.iterate(filter, query.after_seq ?? 0)) yield view(row)
    })()
  }

  async count(query: AuditQuery): Promise<number> {
    return this.repo.count(this.#filter(query, 'audit.count'))
  }

  /**
   * Prove the chain from the last checkpoint (or the start) to the head; name the first broken event. With
   * `expect_head`, also that the chain still reaches that head with that hash (events removed from the end
   * leave a chain that holds, but not one that reaches a head kept elsewhere).
   */
  async verify(options: AuditVerifyOptions = {}): Promise<AuditVerification> {
    authorize('audit.verify')
    const expect = options.expect_head === undefined ? undefined : parseWitness(options.expect_head)
    const problems: string[] = []
    const checkpoints = this.repo.checkpoints()
    const key = checkpoints.length > 0 ? this.#checkpointKey() : undefined
    for (const cp of checkpoints) {
      const expected = Buffer.from(signCheckpoint(key!, cp), 'hex')
      const actual = Buffer.from(cp.signature, 'hex')
      if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
        problems.push(
          `checkpoint through event ${cp.through_seq}: its signature does not match (altered, or signed with another master key)`,
        )
      }
    }
    const last = checkpoints.at(-1)
    let expectedSeq = (last?.through_seq ?? 0) + 1
    let expectedPrev = last?.head_hash ?? GENESIS_HASH
    let count = 0
    let firstBroken: AuditVerification['first_broken'] = null
    let head: AuditVerification['head'] = null
    let hashAtExpected: string | undefined
    for (const row of this.repo.iterate({}, 0)) {
      count++
      if (row.seq === expect?.seq) hashAtExpected = row.hash
      if (!firstBroken) {
        let reason: string | undefined
        if (row.seq !== expectedSeq) {
          reason =
            row.seq > expectedSeq
              ? `event(s) ${expectedSeq}${row.seq - 1 > expectedSeq ? `–${row.seq - 1}` : ''} before it are missing`
              : 'it is out of order'
        } else if (row.prev_hash !== expectedPrev) {
          reason =
            'its prev_hash is not the hash of the event before it (an event was removed, inserted or reordered)'
        } else if (chainHash(row.prev_hash, eventPayload(row)) !== row.hash) {
          reason = 'its content does not match its hash (the event was altered)'
        }
        if (reason) firstBroken = { seq: row.seq, id: row.id, reason }
      }
      expectedSeq = row.seq + 1
      expectedPrev = row.hash
      head = { seq: row.seq, hash: row.hash }
    }
    if (firstBroken) problems.unshift(`event ${firstBroken.seq} (${firstBroken.id}): ${firstBroken.reason}`)
    const expectedProblem =
      expect && missedHead(expect, head?.seq ?? last?.through_seq ?? 0, hashAtExpected, last)
    if (expectedProblem) problems.push(expectedProblem)
    const pruned = checkpoints.length
      ? {
          events: checkpoints.reduce((n, c) => n + c.pruned, 0),
          through_seq: last!.through_seq,
          first_at: iso(checkpoints.find((c) => c.first_at !== null)?.first_at ?? null),
          last_at: iso(last!.last_at),
        }
      : null
    const ok = problems.length === 0
    return {
      ok,
      events: count,
      head,
      witness: ok && head ? `${head.seq}:${head.hash}` : null,
      expected_head: expect ? { ...expect, ok: !expectedProblem } : null,
      first_broken: firstBroken,
      pruned,
      checkpoints: checkpoints.length,
      problems,
    }
  }

  /**
   * Remove the events before `before` (a prefix of the chain) and leave a checkpoint signed with a key derived
   * from the master key: the pruned head's hash, how many, which times. The chain must verify first.
   */
  async prune(before: number): Promise<AuditPruneResult> {
    authorize('audit.prune')
    const check = await this.verify()
    if (!check.ok) {
      throw refused(
        'AUDIT_BROKEN',
        `The audit chain does not verify (${check.problems[0]}); pruning would hide it`,
        'Investigate with: iron audit verify',
      )
    }
    const key = this.#checkpointKey()
    return this.db
      .transaction(() => {
        const range = this.db
          .prepare(
            `SELECT max(seq) AS through_seq, count(*) AS n, min(at) AS first_at, max(at) AS last_at FROM audit_events
              WHERE seq <= (SELECT coalesce(max(seq), 0) FROM audit_events WHERE at < ?)`,
          )
          .get(before) as {
          through_seq: number | null
          n: number
          first_at: number | null
          last_at: number | null
        }
        if (!range.through_seq) throw usageError('NOTHING_TO_PRUNE', `No audit events before ${iso(before)}`)
        const headHash = this.db
          .prepare('SELECT hash FROM audit_events WHERE seq = ?')
          .pluck()
          .get(range.through_seq) as string
        const checkpoint = {
          through_seq: range.through_seq,
          head_hash: headHash,
          pruned: range.n,
          first_at: range.first_at,
          last_at: range.last_at,
          created_at: this.now(),
          actor: this.currentActor(),
        }
        this.db
          .prepare(
            'INSERT INTO audit_checkpoints (through_seq, head_hash, pruned, first_at, last_at, created_at, actor, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          )
          .run(
            checkpoint.through_seq,
            checkpoint.head_hash,
            checkpoint.pruned,
            checkpoint.first_at,
            checkpoint.last_at,
            checkpoint.created_at,
            checkpoint.actor,
            signCheckpoint(key, checkpoint),
          )
        this.db.prepare('INSERT INTO audit_prune_window (through_seq) VALUES (?)').run(range.through_seq)
        this.db.prepare('DELETE FROM audit_events WHERE seq <= ?').run(range.through_seq)
        this.db.prepare('DELETE FROM audit_prune_window').run()
        this.record({
          action: 'audit.prune',
          resource_type: 'audit',
          resource_id: null,
          outcome: 'success',
          data: { through_seq: range.through_seq, pruned: range.n, before: iso(before), head_hash: headHash },
        })
        return {
          pruned: range.n,
          through_seq: range.through_seq,
          first_at: iso(range.first_at),
          last_at: iso(range.last_at),
          head_hash: headHash,
        }
      })
      .immediate()
  }

  #bySeq(seq: number): AuditRow | undefined {
    const [row] = this.repo.iterate({}, seq - 1, 1)
    return row?.seq === seq ? row : undefined
  }

  /**
   * Adds the agent's name to events, as every other view shows agents by name (the chain keeps the ID).
   * One lookup per agent for the views of one call; a deleted agent keeps the name it had.
   */
  #named(): (event: AuditEvent) => AuditEvent {
    const names = new Map<string, string | null>()
    return (event) => {
      const id = event.agent_id
      if (id === null) return { ...event, agent_name: null }
      if (!names.has(id)) names.set(id, this.agents.byId(id)?.name ?? null)
      return { ...event, agent_name: names.get(id)! }
    }
  }

  #checkpointKey(): Buffer {
    return Buffer.from(hkdfSync('sha256', this.masterKey(), Buffer.alloc(0), 'iron:audit-checkpoint:v1', 32))
  }

  /** Whether the agent is owned by that user. */
  #owned(agentId: string, ownerId: string | null): boolean {
    return ownerId !== null && this.agents.byId(agentId)?.owner_id === ownerId
  }

  /** The query as the store filters it, checked and limited to what the caller may see. */
  #filter(query: AuditQuery, method: ServiceMethod): AuditFilter {
    const principal = authorize(method)
    const scope = ownerScope(principal)
    return {
      visible_to: scope === undefined ? undefined : { owner_id: scope, actor: principal!.actor },
      agent_id: query.agent ? findAgent(this.agents, query.agent, { includeDeleted: true }).id : undefined,
      actor: query.actor,
      action: query.action,
      outcome: query.outcome,
      since: query.since,
      until: query.until,
    }
  }
}

function signCheckpoint(key: Buffer, cp: Omit<CheckpointRow, 'signature'>): string {
  const { through_seq, head_hash, pruned, first_at, last_at, created_at, actor } = cp
  return createHmac('sha256', key)
    .update(canonicalJson({ through_seq, head_hash, pruned, first_at, last_at, created_at, actor }))
    .digest('hex')
}

/** `1234:<64 hex>`, the head as `iron audit verify` prints it. */
function parseWitness(text: string): { seq: number; hash: string } {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/i.exec(text.trim())
  if (!match || Number(match[1]) < 1)
    throw usageError(
      'INVALID_AUDIT_HEAD',
      `'${text}' is not an audit head`,
      'Pass the head as `iron audit verify` prints it: <seq>:<hash>, e.g. 1234:<the 64 hex characters of its hash>',
    )
  return { seq: Number(match[1]), hash: match[2]!.toLowerCase() }
}

/** Why the chain does not reach the expected head with its hash, or undefined when it does. */
function missedHead(
  expected: { seq: number; hash: string },
  headSeq: number,
  hashAtExpected: string | undefined,
  checkpoint: CheckpointRow | undefined,
): string | undefined {
  const { seq, hash } = expected
  if (headSeq < seq)
    return `the chain ends at event ${headSeq}, before the expected head ${seq}: events after ${headSeq} were removed`
  const found = hashAtExpected ?? (checkpoint?.through_seq === seq ? checkpoint.head_hash : undefined)
  if (found === undefined) {
    return checkpoint && seq < checkpoint.through_seq
      ? `the expected head ${seq} was pruned (a checkpoint covers events up to ${checkpoint.through_seq}), so its hash cannot be compared; keep the head printed after the prune instead`
      : `the expected head, event ${seq}, is missing`
  }
  return found === hash
    ? undefined
    : `event ${seq} has hash ${found}, not the expected ${hash}: the history up to it was rewritten`
}

function parseCursor(cursor: string): number {
  const seq = /^c(\d+)$/.exec(cursor.trim())
  if (!seq)
    throw usageError(
      'INVALID_CURSOR',
      `'${cursor}' is not a cursor from a previous page`,
      'Use the next_cursor value of the last page',
    )
  return Number(seq[1])
}

export function view(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    seq: row.seq,
    at: iso(row.at)!,
    actor: row.actor,
    action: row.action,
    resource: row.resource_type ? { type: row.resource_type, id: row.resource_id } : null,
    agent_id: row.agent_id,
    outcome: row.outcome as AuditEvent['outcome'],
    data: JSON.parse(row.data) as Record<string, unknown>,
    prev_hash: row.prev_hash,
    hash: row.hash,
  }
}

/** The fields that differ between two views of a resource: { field: { before, after } }. */
export function changes(before: object, after: object): Record<string, { before: unknown; after: unknown }> {
  const out: Record<string, { before: unknown; after: unknown }> = {}
  const a = before as Record<string, unknown>
  const b = after as Record<string, unknown>
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (key === 'updated_at') continue
    if (canonicalJson(a[key]) !== canonicalJson(b[key])) out[key] = { before: a[key], after: b[key] }
  }
  return out
}
