import { z } from 'zod'
import type { UsageGroup } from '../../services/api.js'
import { type AnyRoute, route } from '../route.js'
import * as s from '../schemas.js'

const byModel = z.strictObject({ model: s.ref })

/** Model prices (pricing.*) and usage reports (usage.report). */
export const pricingRoutes: AnyRoute[] = [
  route({
    method: 'GET',
    path: '/api/v1/pricing',
    summary: 'The price table: bundled catalog and overrides (pricing.list)',
    tag: 'pricing',
    service: 'pricing.list',
    kind: 'list',
    query: z.strictObject({
      provider: z.string().max(100).optional(),
      include_retired: s.queryBool.optional(),
      ...s.pageQuery,
    }),
    response: s.ModelPriceView,
    orderKey: (p) => [p.provider, p.model],
    handler: ({ cp, query }) =>
      cp.pricing.list({ provider: query.provider, include_retired: query.include_retired }),
  }),
  route({
    method: 'GET',
    path: '/api/v1/pricing/{model}',
    summary: "A model's price, by id or alias (pricing.get)",
    tag: 'pricing',
    service: 'pricing.get',
    params: byModel,
    response: s.ModelPriceView,
    handler: ({ cp, params }) => cp.pricing.get(params.model),
  }),
  route({
    method: 'PUT',
    path: '/api/v1/pricing/{model}',
    summary: "Set a model's price, overriding the catalog (pricing.set)",
    tag: 'pricing',
    service: 'pricing.set',
    params: byModel,
    body: s.PriceInput,
    response: s.ModelPriceView,
    mutates: true,
    handler: ({ cp, params, body }) => cp.pricing.set({ ...body, model: params.model }),
  }),
  route({
    method: 'DELETE',
    path: '/api/v1/pricing/{model}',
    summary: "Remove a model's override; the catalog's price applies again (pricing.unset)",
    tag: 'pricing',
    service: 'pricing.unset',
    params: byModel,
    response: s.PriceUnset,
    mutates: true,
    handler: ({ cp, params }) => cp.pricing.unset(params.model),
  }),
  route({
    method: 'GET',
    path: '/api/v1/usage',
    summary: 'Requests, tokens and cost, grouped by agent, model, provider, project or day (usage.report)',
    tag: 'usage',
    service: 'usage.report',
    query: z.strictObject({
      by: z.string().max(40).optional(),
      since: s.queryTime.optional(),
      until: s.queryTime.optional(),
      agent: s.ref.optional(),
    }),
    response: s.UsageReport,
    handler: ({ cp, query }) =>
      cp.usage.report({
        by: query.by as UsageGroup | undefined,
        since: query.since,
        until: query.until,
        agent: query.agent,
      }),
  }),
]
