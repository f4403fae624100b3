import { z } from 'zod'
import { type AnyRoute, route } from '../route.js'
import * as s from '../schemas.js'

/** The safety firewall's policy and the offline scanner (safety.*). */
export const safetyRoutes: AnyRoute[] = [
  route({
    method: 'GET',
    path: '/api/v1/safety/policy',
    summary: "The effective safety policy: the default's, or an agent's (safety.getPolicy)",
    tag: 'safety',
    service: 'safety.getPolicy',
    query: z.strictObject({ agent: s.ref.optional() }),
    response: s.SafetyPolicyView,
    handler: ({ cp, query }) => cp.safety.getPolicy({ agent: query.agent }),
  }),
  route({
    method: 'PUT',
    path: '/api/v1/safety/policy',
    summary: "Change the store's default policy, merged or replacing it (safety.setDefault)",
    tag: 'safety',
    service: 'safety.setDefault',
    body: s.SafetyPolicyChange,
    response: s.SafetyPolicyView,
    mutates: true,
    handler: ({ cp, body }) => cp.safety.setDefault(body.change, { replace: body.replace }),
  }),
  route({
    method: 'POST',
    path: '/api/v1/safety/scan',
    summary:
      'Scan text against the firewall, offline: findings, what would be blocked or redacted (safety.scan)',
    tag: 'safety',
    service: 'safety.scan',
    body: s.SafetyScanInput,
    response: s.SafetyScanResult,
    handler: ({ cp, body }) => cp.safety.scan(body),
  }),
]
