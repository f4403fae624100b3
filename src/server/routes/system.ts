import { z } from 'zod'
import { ServerEventSchema } from '../../services/server-events.js'
import { send } from '../http.js'
import { type AnyRoute, route } from '../route.js'
import * as s from '../schemas.js'

/** The server's own routes: health, metrics, the OpenAPI document and the event stream. */
export const systemRoutes: AnyRoute[] = [
  route({
    method: 'GET',
    path: '/api/health',
    summary: 'Liveness and the store: open, for load balancers and probes',
    tag: 'server',
    access: 'open',
    response: s.Health,
    handler: ({ server }) => ({
      status: 'ok' as const,
      version: server.version,
      store: server.store,
      schema_version: server.schemaVersion(),
    }),
  }),
  route({
    method: 'GET',
    path: '/api/v1/openapi.json',
    summary: 'This document: OpenAPI 3.1, generated from the schemas that validate the requests',
    tag: 'server',
    access: 'open',
    kind: 'raw',
    rawContent: ['application/json'],
    response: z.record(z.string(), z.unknown()),
    handler: ({ server, res, head }) =>
      send(res, 200, JSON.stringify(server.openapi()), 'application/json; charset=utf-8', {}, head),
  }),
  route({
    method: 'GET',
    path: '/metrics',
    summary:
      'Prometheus metrics: requests by route and status, latency, sessions, event watchers, the process, and the /v1 gateway routes (iron_requests_total, …)',
    tag: 'server',
    access: 'admin',
    kind: 'raw',
    rawContent: ['text/plain'],
    response: z.string(),
    handler: ({ server, res, head }) =>
      send(res, 200, server.metrics(), 'text/plain; version=0.0.4; charset=utf-8', {}, head),
  }),
  route({
    method: 'GET',
    path: '/api/v1/events',
    summary:
      'Server-sent events: gateway requests, firewall findings, budget alerts, and budget, safety and admin changes, as far as the caller may see them; resume with Last-Event-ID or since',
    tag: 'server',
    access: 'viewer',
    kind: 'raw',
    rawContent: ['text/event-stream'],
    query: z.strictObject({ since: s.queryInt(0, Number.MAX_SAFE_INTEGER).optional() }),
    /** What each event's `data:` holds. */
    response: ServerEventSchema.meta({ id: 'ServerEvent' }),
    handler: ({ server, req, res, principal, secret, query, head }) => {
      if (head) {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        return void res.end()
      }
      const last = req.headers['last-event-id']
      const resume = typeof last === 'string' && /^\d{1,15}$/.test(last) ? Number(last) : undefined
      server.events(res, principal!, secret!, query.since ?? resume)
    },
  }),
]
