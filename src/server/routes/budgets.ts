import { z } from 'zod'
import type { BudgetInput } from '../../services/api.js'
import { DEFAULT_PAGE, decodeCursor, encodeCursor, invalidCursor } from '../pagination.js'
import { type AnyRoute, route } from '../route.js'
import * as s from '../schemas.js'

const byRef = z.strictObject({ ref: s.ref })

/** The most history the service reads for one agent; pages go on until there. */
const HISTORY_MAX = 10_000

/** Budgets and the ledger (budgets.*). */
export const budgetRoutes: AnyRoute[] = [
  route({
    method: 'GET',
    path: '/api/v1/budgets',
    summary: 'List budgets (budgets.list)',
    tag: 'budgets',
    service: 'budgets.list',
    kind: 'list',
    query: z.strictObject({ ...s.pageQuery }),
    response: s.Budget,
    orderKey: (b) => [b.agent_name, b.agent_id],
    handler: ({ cp }) => cp.budgets.list(),
  }),
  route({
    method: 'GET',
    path: '/api/v1/agents/{ref}/budget',
    summary: "An agent's budget: limit, period, spent, in flight, remaining (budgets.get)",
    tag: 'budgets',
    service: 'budgets.get',
    params: byRef,
    response: s.Budget,
    handler: ({ cp, params }) => cp.budgets.get(params.ref),
  }),
  route({
    method: 'PUT',
    path: '/api/v1/agents/{ref}/budget',
    summary: "Set an agent's budget (budgets.set; a user at most up to what an admin granted)",
    tag: 'budgets',
    service: 'budgets.set',
    params: byRef,
    body: s.BudgetInput,
    response: s.Budget,
    mutates: true,
    handler: ({ cp, params, body }) => cp.budgets.set(params.ref, body as BudgetInput),
  }),
  route({
    method: 'GET',
    path: '/api/v1/agents/{ref}/budget/check',
    summary:
      'Whether the agent is over budget, its burn rate and projection (budgets.check; verify=true checks the ledger)',
    tag: 'budgets',
    service: 'budgets.check',
    params: byRef,
    query: z.strictObject({ verify: s.queryBool.optional() }),
    response: s.BudgetCheck,
    handler: ({ cp, params, query }) => cp.budgets.check(params.ref, { verify: query.verify }),
  }),
  route({
    method: 'GET',
    path: '/api/v1/agents/{ref}/budget/history',
    summary:
      "The agent's ledger, newest first (budgets.history): pages of limit entries (1 to 500, default 100), the newest 10000 in all",
    tag: 'budgets',
    service: 'budgets.history',
    params: byRef,
    query: z.strictObject({ since: s.queryTime.optional(), ...s.pageQuery }),
    response: s.page(s.LedgerEntry),
    handler: async ({ cp, params, query }) => {
      const size = query.limit ?? DEFAULT_PAGE
      // The cursor holds how many entries came before, so only as many as the next page needs are read.
      const before = query.cursor === undefined ? { seq: undefined, n: 0 } : historyCursor(query.cursor)
      let wanted = Math.min(before.n + size + 1, HISTORY_MAX)
      let entries = await cp.budgets.history(params.ref, { limit: wanted, since: query.since })
      let at = before.seq === undefined ? -1 : entries.findIndex((e) => e.seq === before.seq)
      // Entries written since the page before push it down: read as many more as it moved.
      if (at + 1 + size + 1 > wanted && entries.length === wanted && wanted < HISTORY_MAX) {
        wanted = Math.min(at + 1 + size + 1, HISTORY_MAX)
        entries = await cp.budgets.history(params.ref, { limit: wanted, since: query.since })
        at = before.seq === undefined ? -1 : entries.findIndex((e) => e.seq === before.seq)
      }
      const start = at === -1 ? Math.min(before.n, entries.length) : at + 1
      const data = entries.slice(start, start + size)
      const given = start + data.length
      const more = given < entries.length && given < HISTORY_MAX
      return {
        data,
        next_cursor: more && data.length > 0 ? encodeCursor({ s: data.at(-1)!.seq, n: given }) : null,
      }
    },
  }),
  route({
    method: 'POST',
    path: '/api/v1/agents/{ref}/budget/adjust',
    summary: 'Add to or take from what the agent spent this period, with a reason (budgets.adjust)',
    tag: 'budgets',
    service: 'budgets.adjust',
    params: byRef,
    body: s.BudgetAdjust,
    response: s.Budget,
    mutates: true,
    handler: ({ cp, params, body }) => cp.budgets.adjust(params.ref, body),
  }),
]

function historyCursor(cursor: string): { seq: number; n: number } {
  const value = decodeCursor(cursor) as { s?: unknown; n?: unknown }
  if (
    typeof value !== 'object' ||
    value === null ||
    !Number.isSafeInteger(value.s) ||
    !Number.isSafeInteger(value.n) ||
    (value.n as number) < 0 ||
    (value.n as number) > HISTORY_MAX
  )
    throw invalidCursor()
  return { seq: value.s as number, n: value.n as number }
}
