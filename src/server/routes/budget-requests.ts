import { z } from 'zod'
import type { BudgetRequestStatus } from '../../services/api.js'
import { type AnyRoute, route } from '../route.js'
import * as s from '../schemas.js'

const byId = z.strictObject({ id: s.ref })

/** Budget change requests (budgetRequests.*): users ask for their agents, admins decide. */
export const budgetRequestRoutes: AnyRoute[] = [
  route({
    method: 'GET',
    path: '/api/v1/budget-requests',
    summary: 'List budget change requests, newest first (budgetRequests.list)',
    tag: 'budget-requests',
    service: 'budgetRequests.list',
    kind: 'list',
    query: z.strictObject({
      status: z.string().max(40).optional(),
      agent: s.ref.optional(),
      ...s.pageQuery,
    }),
    response: s.BudgetRequest,
    orderKey: (r) => [r.id],
    handler: ({ cp, query }) =>
      cp.budgetRequests.list({ status: query.status as BudgetRequestStatus | undefined, agent: query.agent }),
  }),
  route({
    method: 'POST',
    path: '/api/v1/budget-requests',
    summary: "Ask an admin for a new limit on an agent's budget, with a reason (budgetRequests.create)",
    tag: 'budget-requests',
    service: 'budgetRequests.create',
    body: s.BudgetRequestInput,
    response: s.BudgetRequest,
    status: 201,
    mutates: true,
    handler: ({ cp, body }) =>
      cp.budgetRequests.create(body.agent, { limit_micros: body.limit_micros, reason: body.reason }),
  }),
  route({
    method: 'GET',
    path: '/api/v1/budget-requests/{id}',
    summary: 'A budget change request (budgetRequests.get)',
    tag: 'budget-requests',
    service: 'budgetRequests.get',
    params: byId,
    response: s.BudgetRequest,
    handler: ({ cp, params }) => cp.budgetRequests.get(params.id),
  }),
  ...(['approve', 'reject'] as const).map((decision) =>
    route({
      method: 'POST',
      path: `/api/v1/budget-requests/{id}/${decision}`,
      summary:
        decision === 'approve'
          ? "Approve a pending request: the agent's limit (and what its owner may set) becomes the one asked (budgetRequests.approve)"
          : 'Reject a pending request, with a note (budgetRequests.reject)',
      tag: 'budget-requests',
      service: `budgetRequests.${decision}` as const,
      params: byId,
      body: s.Decision,
      response: s.BudgetRequest,
      mutates: true,
      handler: ({ cp, params, body }) => cp.budgetRequests[decision](params.id, { note: body.note }),
    }),
  ),
  route({
    method: 'POST',
    path: '/api/v1/budget-requests/{id}/cancel',
    summary: 'Withdraw a pending request: its requester or an admin (budgetRequests.cancel)',
    tag: 'budget-requests',
    service: 'budgetRequests.cancel',
    params: byId,
    body: s.Empty,
    response: s.BudgetRequest,
    mutates: true,
    handler: ({ cp, params }) => cp.budgetRequests.cancel(params.id),
  }),
]
