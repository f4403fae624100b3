import { HttpError } from './errors.js'
import type { AnyRoute, Method } from './route.js'

/** Matching a request's method and path to a route: literal segments before parameters, 404 or 405. */

interface Compiled {
  route: AnyRoute
  segments: Array<{ literal: string } | { param: string }>
}

export interface Match {
  route: AnyRoute
  /** The path's parameters, URL-decoded. */
  params: Record<string, string>
}

export class Router {
  readonly #routes: Compiled[]

  constructor(routes: readonly AnyRoute[]) {
    const seen = new Set<string>()
    this.#routes = routes.map((route) => {
      const id = `${route.method} ${route.path}`
      if (seen.has(id)) throw new Error(`Route defined twice: ${id}`)
      seen.add(id)
      return {
        route,
        segments: route.path
          .split('/')
          .slice(1)
          .map((s) => (s.startsWith('{') && s.endsWith('}') ? { param: s.slice(1, -1) } : { literal: s })),
      }
    })
  }

  /** The route for `method` at `path`; HEAD finds the GET route. Throws 404 or 405 (with Allow). */
  match(method: string, path: string): Match {
    const parts = path.split('/').slice(1)
    let best: { compiled: Compiled; params: Record<string, string>; score: number } | undefined
    const allowed = new Set<string>()
    for (const compiled of this.#routes) {
      const params = matchSegments(compiled, parts)
      if (!params) continue
      allowed.add(compiled.route.method)
      if (compiled.route.method !== method && !(method === 'HEAD' && compiled.route.method === 'GET'))
        continue
      // The route with the most literal segments wins: /audit/count before /audit/{ref}.
      const score = compiled.segments.filter((s) => 'literal' in s).length
      if (!best || score > best.score) best = { compiled, params, score }
    }
    if (best) return { route: best.compiled.route, params: best.params }
    if (allowed.size === 0) {
      throw new HttpError(404, 'ROUTE_NOT_FOUND', `No route ${path}`, {
        hint: 'The routes are listed in the OpenAPI document at /api/v1/openapi.json',
        exitCode: 3,
      })
    }
    if (allowed.has('GET')) allowed.add('HEAD')
    const allow = [...allowed].sort().join(', ')
    throw new HttpError(
      405,
      'METHOD_NOT_ALLOWED',
      method === 'OPTIONS'
        ? `${path} answers ${allow}; OPTIONS is not answered (CORS is closed: iron serve is for the CLI and scripts, not for browsers)`
        : `${path} answers ${allow}, not ${method}`,
      { headers: { allow } },
    )
  }

  get routes(): AnyRoute[] {
    return this.#routes.map((c) => c.route)
  }
}

function matchSegments(compiled: Compiled, parts: string[]): Record<string, string> | undefined {
  if (compiled.segments.length !== parts.length) return undefined
  const params: Record<string, string> = {}
  for (let n = 0; n < parts.length; n++) {
    const segment = compiled.segments[n]!
    const part = parts[n]!
    if ('literal' in segment) {
      if (segment.literal !== part) return undefined
    } else {
      if (part === '') return undefined
      let value: string
      try {
        value = decodeURIComponent(part)
      } catch {
        throw new HttpError(
          400,
          'INVALID_PATH',
          `The path segment '${part.slice(0, 80)}' is not valid URL encoding`,
          {
            hint: 'URL-encode names with encodeURIComponent',
          },
        )
      }
      params[segment.param] = value
    }
  }
  return params
}

export const METHODS: readonly Method[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']
