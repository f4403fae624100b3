import { z } from 'zod'
import type { ProviderInput, ProviderUpdate } from '../../services/api.js'
import { type AnyRoute, route } from '../route.js'
import * as s from '../schemas.js'

const byRef = z.strictObject({ ref: s.ref })

/** Provider credentials (providers.*): anyone signed in sees them masked; only admins change them. */
export const providerRoutes: AnyRoute[] = [
  route({
    method: 'GET',
    path: '/api/v1/providers',
    summary: 'List providers, keys masked (providers.list)',
    tag: 'providers',
    service: 'providers.list',
    kind: 'list',
    query: z.strictObject({ ...s.pageQuery }),
    response: s.Provider,
    orderKey: (p) => [p.name, p.id],
    handler: ({ cp }) => cp.providers.list(),
  }),
  route({
    method: 'POST',
    path: '/api/v1/providers',
    summary: 'Add a provider credential (providers.add); the key is stored encrypted and never returned',
    tag: 'providers',
    service: 'providers.add',
    body: s.ProviderInput,
    response: s.Provider,
    status: 201,
    mutates: true,
    handler: ({ cp, body }) => cp.providers.add(body as ProviderInput),
  }),
  route({
    method: 'GET',
    path: '/api/v1/providers/{ref}',
    summary: 'A provider by name or ID (providers.get)',
    tag: 'providers',
    service: 'providers.get',
    params: byRef,
    response: s.Provider,
    handler: ({ cp, params }) => cp.providers.get(params.ref),
  }),
  route({
    method: 'PATCH',
    path: '/api/v1/providers/{ref}',
    summary: "Change a provider's URL, key or description (providers.update)",
    tag: 'providers',
    service: 'providers.update',
    params: byRef,
    body: s.ProviderUpdate,
    response: s.Provider,
    mutates: true,
    handler: ({ cp, params, body }) => cp.providers.update(params.ref, body as ProviderUpdate),
  }),
  route({
    method: 'DELETE',
    path: '/api/v1/providers/{ref}',
    summary: 'Remove a provider (providers.remove)',
    tag: 'providers',
    service: 'providers.remove',
    params: byRef,
    response: s.Provider,
    mutates: true,
    handler: ({ cp, params }) => cp.providers.remove(params.ref),
  }),
  route({
    method: 'POST',
    path: '/api/v1/providers/{ref}/test',
    summary: "Check a provider's key against its API (providers.test)",
    tag: 'providers',
    service: 'providers.test',
    params: byRef,
    body: s.Empty,
    response: s.ProviderTestResult,
    mutates: true,
    handler: ({ cp, params }) => cp.providers.test(params.ref),
  }),
]
