import type { IncomingMessage } from 'node:http'
import { authError } from '../core/errors.js'
import { ROLE_RANK } from '../services/authz.js'
import type { LocalAuth } from '../services/local/auth.js'
import type { Principal } from '../services/principal.js'
import { HttpError } from './errors.js'
import type { Access } from './route.js'

/** Who calls: the bearer secret of a session (`iron_st_…`) or an API token (`iron_at_…`), nothing else. */

/** What the server needs of the auth service. */
export type Authenticator = Pick<LocalAuth, 'login' | 'authenticate' | 'logout' | 'hasAdmin'>

const SECRET_RE = /^iron_(st|at)_[A-Za-z0-9_-]{8,200}$/

/** The bearer secret of the request, or undefined when it sends none. Cookies and bodies are never read. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization
  if (header === undefined || header === '') return undefined
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header)
  if (!match) {
    throw authError(
      'AUTH_REQUIRED',
      'The Authorization header is not "Bearer <token>"',
      'Send Authorization: Bearer iron_st_… (from iron login) or iron_at_… (an API token)',
    )
  }
  const secret = match[1]!
  if (!SECRET_RE.test(secret)) {
    throw authError(
      'INVALID_TOKEN',
      'The bearer token is not an iron session or API token',
      'Sign in with: iron login <url>, or use an API token (iron_at_…)',
    )
  }
  return secret
}

/** The principal of a request to a route with `access`, or a 401/403 (never a hint of what exists). */
export function authorize(
  auth: Authenticator,
  secret: string | undefined,
  access: Exclude<Access, 'agent'>,
): Principal | undefined {
  if (access === 'open') return secret === undefined ? undefined : tryAuthenticate(auth, secret)
  if (secret === undefined) {
    throw authError('AUTH_REQUIRED', 'Sign in first', 'Sign in with: iron login <url> (or send an API token)')
  }
  const principal = auth.authenticate(secret)
  if (ROLE_RANK[principal.role] < ROLE_RANK[access]) {
    throw new HttpError(
      403,
      'FORBIDDEN',
      `This needs the ${access} role; ${principal.user_name ?? principal.actor} acts as ${principal.role}${
        principal.via === 'api_token' ? ' (with this API token)' : ''
      }`,
      { exitCode: 4, hint: 'Ask an admin of this server' },
    )
  }
  return principal
}

/** On an open route a bad token is no reason to refuse; the route just runs without a principal. */
function tryAuthenticate(auth: Authenticator, secret: string): Principal | undefined {
  try {
    return auth.authenticate(secret)
  } catch {
    return undefined
  }
}

/** 401s carry `WWW-Authenticate: Bearer` (RFC 6750). */
export const CHALLENGE = 'Bearer realm="iron"'
