import { z } from 'zod'
import type { AnyRoute } from './route.js'
import { page } from './schemas.js'

/**
 * The OpenAPI 3.1 document of `iron serve`, generated from the route table: the same zod schemas that
 * validate each request describe it here (zod's JSON Schema, draft 2020-12, which OpenAPI 3.1 uses), and
 * each response is described by the schema the tests check real answers against.
 */

type Json = Record<string, unknown>

const ERROR_STATUSES: Record<string, string> = {
  '400': 'Bad request (INVALID_JSON, INVALID_CURSOR, or a usage error of the service)',
  '401': 'No valid credentials (AUTH_REQUIRED, SESSION_EXPIRED, SESSION_REVOKED, USER_SUSPENDED, …)',
  '403': 'Signed in, but the role does not allow it (FORBIDDEN)',
  '404': 'No such thing, or one the caller may not see',
  '409': 'Refused by the state of things (a conflict, a refusal of the service)',
  '413': 'The body is larger than 1 MiB',
  '415': 'The body is not JSON',
  '422': 'The request does not match its schema: every problem in error.fields',
  '429': 'Too many attempts or streams (Retry-After says when to try again)',
  '500': 'A bug of the server (INTERNAL), logged with the request id',
}

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      hint: z.string().optional(),
      fields: z
        .array(
          z.object({
            location: z.enum(['params', 'query', 'body', 'headers']),
            path: z.string(),
            code: z.string(),
            message: z.string(),
          }),
        )
        .optional(),
      details: z.record(z.string(), z.unknown()).optional(),
      exit_code: z.number().int(),
      request_id: z.string(),
    }),
  })
  .meta({ id: 'Error' })

/** The operation id of a route: `GET /api/v1/agents/{ref}/budget` → `getAgentsRefBudget`. */
export function operationId(route: AnyRoute): string {
  const words = route.path
    .replace(/^\/api(\/v1)?/, '')
    .split(/[/{}.-]+/)
    .filter(Boolean)
  return [route.method.toLowerCase(), ...words.map((w) => w[0]!.toUpperCase() + w.slice(1))].join('')
}

/** The schema a route's answer is documented (and checked) with: a page for lists, the value otherwise. */
export function responseSchema(route: AnyRoute): z.ZodType {
  return route.kind === 'list' ? page(route.response) : route.response
}

export function openApiDocument(routes: readonly AnyRoute[], version: string): Json {
  const components: Record<string, Json> = {}
  const convert = (schema: z.ZodType, io: 'input' | 'output'): Json =>
    hoist(z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json, components)

  const paths: Record<string, Record<string, Json>> = {}
  for (const route of routes) {
    const parameters = [
      ...shapeParameters(route.params, 'path', convert),
      ...shapeParameters(route.query, 'query', convert),
    ]
    const status = String(route.status ?? 200)
    const content: Record<string, Json> =
      route.kind === 'raw'
        ? Object.fromEntries(
            (route.rawContent ?? ['application/json']).map((type) => [
              type,
              {
                schema: type.startsWith('text/plain')
                  ? { type: 'string' }
                  : convert(route.response, 'output'),
              },
            ]),
          )
        : { 'application/json': { schema: convert(responseSchema(route), 'output') } }
    const responses: Record<string, Json> = { [status]: { description: 'OK', content } }
    for (const [code, description] of Object.entries(ERROR_STATUSES)) {
      if (
        route.access === 'open' &&
        (code === '401' || code === '403') &&
        route.path !== '/api/v1/auth/login'
      )
        continue
      responses[code] = {
        description,
        content: { 'application/json': { schema: convert(ErrorSchema, 'output') } },
      }
    }
    const operation: Json = {
      operationId: operationId(route),
      summary: route.summary,
      tags: [route.tag],
      'x-iron-access': route.access,
      security:
        route.access === 'open' ? [] : route.access === 'agent' ? [{ ic_token: [] }] : [{ bearer: [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: !route.body.safeParse(undefined).success && !route.body.safeParse({}).success,
              content: { 'application/json': { schema: convert(route.body, 'input') } },
            },
          }
        : {}),
      responses,
    }
    paths[route.path] ??= {}
    paths[route.path]![route.method.toLowerCase()] = operation
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'iron serve',
      version,
      description:
        'The control plane of iron over HTTP: the same services as the local CLI, with people, roles and sessions. ' +
        'Authenticate with Authorization: Bearer iron_st_… (POST /api/v1/auth/login) or iron_at_… (an API token). ' +
        'Lists are pages {data, next_cursor}: pass next_cursor back as cursor. Money is integer micro-USD (_micros); ' +
        'times are ISO-8601 UTC.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: '/' }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'iron_st_… or iron_at_…' },
        ic_token: {
          type: 'http',
          scheme: 'bearer',
          description: "An agent's IC token (iron_ic_…): the lease protocol of team gateways",
        },
      },
    },
  }
}

function shapeParameters(
  schema: z.ZodType | undefined,
  where: 'path' | 'query',
  convert: (schema: z.ZodType, io: 'input' | 'output') => Json,
): Json[] {
  if (!schema) return []
  const shape = (schema as unknown as { shape?: Record<string, z.ZodType> }).shape
  if (!shape) throw new Error(`The ${where} schema of a route must be an object`)
  return Object.entries(shape).map(([name, field]) => ({
    name,
    in: where,
    required: where === 'path' || !field.safeParse(undefined).success,
    schema: convert(field, 'input'),
  }))
}

/**
 * Move a converted schema's `$defs` (zod puts every schema with an `id` there) into the document's
 * components, pointing its references there; the same id must always mean the same schema.
 */
function hoist(converted: Json, components: Record<string, Json>): Json {
  const { $schema: _, $defs, ...schema } = converted
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite)
    if (value && typeof value === 'object') {
      const out: Json = {}
      for (const [k, v] of Object.entries(value)) {
        out[k] =
          k === '$ref' && typeof v === 'string' ? v.replace('#/$defs/', '#/components/schemas/') : rewrite(v)
      }
      return out
    }
    return value
  }
  for (const [id, def] of Object.entries(($defs as Record<string, Json> | undefined) ?? {})) {
    const rewritten = rewrite(def) as Json
    const known = components[id]
    if (known && JSON.stringify(known) !== JSON.stringify(rewritten))
      throw new Error(`Two different schemas are called ${id} in the OpenAPI document`)
    components[id] = rewritten
  }
  return rewrite(schema) as Json
}
