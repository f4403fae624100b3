import type { IncomingMessage, ServerResponse } from 'node:http'
import type { z } from 'zod'
import type { UserRole } from '../services/api.js'
import { RULES, type ServiceMethod } from '../services/authz.js'
import type { LocalControlPlane } from '../services/local/index.js'
import type { Principal } from '../services/principal.js'

/**
 * One route of `iron serve`: what it answers, who may call it, the zod schemas that validate its input and
 * describe its output (the OpenAPI document is generated from them), and the handler that calls the
 * control plane. The authorization matrix and the fuzz tests are generated from the same table.
 */

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/**
 * The least a caller must be: `open` (no credentials), `viewer` (anyone signed in), `user` (a user or an
 * admin: may write their own things), `admin`. A route that calls a service method takes that method's role
 * from the rules table (src/services/authz.ts); ownership (a user's own agents) is the services' rule.
 * `agent`: the lease protocol's calls, made by gateways with an agent's IC token, which the route checks.
 */
export type Access = 'open' | 'agent' | UserRole

/** What the server itself provides to its own routes (health, metrics, the OpenAPI document, events). */
export interface ServerFacilities {
  version: string
  /** Which store the server runs on. */
  store: 'sqlite' | 'postgresql'
  /** The store's schema version (read from the store: a probe that the store answers). */
  schemaVersion(): number
  metrics(): string
  openapi(): unknown
  /** Follow the event stream on `res` (SSE) from after `since` (an audit sequence number). */
  events(res: ServerResponse, principal: Principal, secret: string, since: number | undefined): void
}

export interface HandlerContext<P, Q, B> {
  cp: LocalControlPlane
  server: ServerFacilities
  params: P
  query: Q
  body: B
  /** Undefined only on open routes. */
  principal: Principal | undefined
  /** The bearer secret the caller sent (logout revokes the session it names). */
  secret: string | undefined
  req: IncomingMessage
  res: ServerResponse
  requestId: string
  /** The client's address (http.ts clientAddress: the peer, or past trusted proxies). */
  client: string
  /** HEAD: answer the headers GET would, without the body. */
  head: boolean
}

/**
 * How a route answers: `json` (the handler's value, checked against `response`), `list` (the handler's array
 * as a page `{data, next_cursor}`), or `raw` (the handler writes to `res` itself: streams, SSE, text).
 */
export type Kind = 'json' | 'list' | 'raw'

export interface RouteSpec<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> {
  method: Method
  /** `/api/v1/agents/{ref}`: a `{name}` segment is a parameter. */
  path: string
  /** One line for the OpenAPI document (and the service call it makes). */
  summary: string
  tag: string
  /** The control-plane method it calls: its rule (src/services/authz.ts) gives the route's access. */
  service?: ServiceMethod
  /** For routes of the server's own (health, login, metrics, events), which call no service method. */
  access?: Access
  params?: P
  query?: Q
  body?: B
  /** Runs on the body as sent, before it is validated (the lease protocol refuses another version first). */
  precheck?: (body: unknown) => void
  /** For `json`, the value; for `list`, one item; for `raw`, described by `rawContent`. */
  response: R
  kind?: Kind
  /** 200 unless said (201 for creations). */
  status?: number
  /** `raw` routes: the media type of what they write (text/event-stream, text/plain, application/x-ndjson). */
  rawContent?: string[]
  /**
   * `list` routes: the item's position in the service's order (name, then id, …), so that pages keep the
   * order the service returns and a cursor survives items added or removed between pages.
   */
  orderKey?: (item: z.output<R>) => Array<string | number>
  /** Whether the route changes the store (running gateways are told to drop their caches). */
  mutates?: boolean
  /** The service's value (an array for `list`); `raw` routes answer on `res` and return nothing. */
  handler: (ctx: HandlerContext<z.output<P>, z.output<Q>, z.output<B>>) => unknown
}

export type AnyRoute = RouteSpec<z.ZodType, z.ZodType, z.ZodType, z.ZodType> & { access: Access }

/** Keeps each route's schemas and handler types tied together, and gives it the access of its service method. */
export function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType>(
  spec: RouteSpec<P, Q, B, R>,
): AnyRoute {
  const access = spec.access ?? (spec.service ? RULES[spec.service].role : undefined)
  if (!access) throw new Error(`${spec.method} ${spec.path} needs a service method or an access`)
  return { ...spec, access } as unknown as AnyRoute
}
