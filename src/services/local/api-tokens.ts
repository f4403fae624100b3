import { IronError, notFound, usageError } from '../../core/errors.js'
import { looksLikeId, newId, parseId } from '../../core/ids.js'
import { displayPrefix, hashSecret, newSecret } from '../../core/secrets.js'
import type { Db } from '../../store/db.js'
import type { ApiTokensRepo, ApiTokenWithUser, UsersRepo } from '../../store/users.js'
import type { ApiToken, ApiTokenInput, ApiTokensApi, IssuedApiToken, UserRole } from '../api.js'
import { authorize, forbidden, isAdmin, isRole, narrowerRole, ROLE_RANK } from '../authz.js'
import type { Principal } from '../principal.js'
import type { LocalAudit } from './audit.js'
import { iso } from './refs.js'
import { findUser } from './users.js'

const MAX_EXPIRY_MS = 10 * 365 * 86_400_000

/**
 * API tokens (`iron_at_…`) for automation: each acts as its user, with at most the user's role (and at most
 * the role of whoever creates it), until it expires or is revoked. Shown once, stored as SHA-256 and a
 * display prefix. A user or viewer makes and sees their own; admins anyone's.
 */
export class LocalApiTokens implements ApiTokensApi {
  constructor(
    private readonly db: Db,
    private readonly repo: ApiTokensRepo,
    private readonly users: UsersRepo,
    private readonly audit: LocalAudit,
    private readonly now: () => number,
  ) {}

  async create(input: ApiTokenInput): Promise<IssuedApiToken> {
    const principal = authorize('apiTokens.create')
    const name = checkLabel(input.name)
    const expiresIn = checkExpiry(input.expires_in_ms)
    const role = input.role === undefined ? undefined : checkRole(input.role)
    return this.#tx(() => {
      const user = this.#owner(principal, input.user)
      if (user.status !== 'active') {
        throw new IronError(
          'USER_NOT_ACTIVE',
          `${user.name} is ${user.status}; their API tokens would not work`,
          {
            hint: `Activate them first: iron users activate ${user.name}`,
          },
        )
      }
      // At most the user's role, and never more than the caller's own (a viewer token cannot mint a user one).
      const ceiling = principal ? narrowerRole(user.role, principal.role) : user.role
      const granted = role ?? ceiling
      if (ROLE_RANK[granted] > ROLE_RANK[ceiling]) {
        throw usageError(
          'ROLE_TOO_HIGH',
          `An API token of ${user.name} can have at most the ${ceiling} role, not ${granted}`,
          `Leave --role out for ${ceiling}, or choose a narrower role`,
        )
      }
      const now = this.now()
      const secret = newSecret('at')
      const row = {
        id: newId('at', now),
        user_id: user.id,
        name,
        role: granted,
        token_hash: hashSecret(secret),
        prefix: displayPrefix(secret),
        created_at: now,
        expires_at: expiresIn === undefined ? null : now + expiresIn,
        last_used_at: null,
        revoked_at: null,
      }
      this.repo.insert(row)
      const token = view({ ...row, user_name: user.name }, now)
      this.#record('api_token.create', token)
      return { ...token, token: secret }
    })
  }

  async list(options: { user?: string; include_revoked?: boolean } = {}): Promise<ApiToken[]> {
    const principal = authorize('apiTokens.list')
    const userId =
      options.user !== undefined
        ? this.#visibleUser(principal, options.user).id
        : isAdmin(principal)
          ? undefined
          : (principal!.user_id ?? '')
    const now = this.now()
    return this.repo.list({ userId, includeRevoked: options.include_revoked }).map((t) => view(t, now))
  }

  async get(ref: string): Promise<ApiToken> {
    const principal = authorize('apiTokens.get')
    return view(this.#find(principal, ref), this.now())
  }

  async revoke(ref: string): Promise<ApiToken> {
    const principal = authorize('apiTokens.revoke')
    return this.#tx(() => {
      const token = this.#find(principal, ref)
      if (token.revoked_at !== null) {
        throw new IronError('API_TOKEN_ALREADY_REVOKED', `API token ${token.prefix}… was already revoked`, {
          hint: 'List live tokens with: iron api-tokens list',
        })
      }
      const now = this.now()
      this.repo.revoke(token.id, now)
      const revoked = view({ ...token, revoked_at: now }, now)
      this.#record('api_token.revoke', revoked)
      return revoked
    })
  }

  /** Whose token to make: the caller by default; another user only for an admin (or the local store). */
  #owner(principal: Principal | undefined, user: string | undefined) {
    if (user === undefined) {
      if (!principal) {
        throw usageError(
          'USER_REQUIRED',
          'On the local store an API token needs a user to act as',
          'Name one with --user NAME',
        )
      }
      if (!principal.user_id) throw forbidden('Only a user can have API tokens')
      return findUser(this.users, principal.user_id)
    }
    const found = findUser(this.users, user)
    if (!isAdmin(principal) && found.id !== principal!.user_id) {
      throw forbidden(
        "Creating another user's API token needs the admin role",
        'Leave --user out to create your own',
      )
    }
    return found
  }

  /** A user the caller may list tokens of: anyone for an admin, themselves otherwise. */
  #visibleUser(principal: Principal | undefined, ref: string) {
    const user = findUser(this.users, ref, { includeDeleted: true })
    if (!isAdmin(principal) && user.id !== principal!.user_id) {
      throw notFound('USER_NOT_FOUND', `No user '${ref.trim()}'`, 'Leave --user out to list your own tokens')
    }
    return user
  }

  /** A token by its ID (`at_…`); another user's is not there for a user or viewer. */
  #find(principal: Principal | undefined, ref: string): ApiTokenWithUser {
    const trimmed = ref.trim()
    if (trimmed.startsWith('iron_at_')) {
      throw usageError(
        'SECRET_AS_REFERENCE',
        'That is an API token secret, not a reference',
        'Refer to a token by its ID (at_…), as iron api-tokens list shows it; never paste secrets into commands',
      )
    }
    if (!looksLikeId(trimmed.toLowerCase(), 'at')) {
      throw usageError(
        'INVALID_ID',
        `'${trimmed}' is not an API token ID`,
        'API token IDs start with at_; list them with: iron api-tokens list',
      )
    }
    const token = this.repo.byId(parseId(trimmed, 'at'))
    if (!token || (!isAdmin(principal) && token.user_id !== principal!.user_id)) {
      throw notFound(
        'API_TOKEN_NOT_FOUND',
        `No API token ${trimmed}`,
        'List them with: iron api-tokens list --all',
      )
    }
    return token
  }

  /** Token events carry the record (ID, name, user, role, prefix, expiry), never the secret. */
  #record(action: string, token: ApiToken): void {
    const { id, name, user_name, role, prefix, expires_at } = token
    this.audit.record({
      action,
      resource_type: 'api_token',
      resource_id: id,
      outcome: 'success',
      data: { token: { id, name, user: user_name, role, prefix, expires_at } },
    })
  }

  #tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }
}

function checkLabel(value: unknown): string {
  const text = typeof value === 'string' ? value.trim() : ''
  if (text.length < 1 || text.length > 100 || /\p{Cc}/u.test(text)) {
    throw usageError(
      'INVALID_TOKEN_NAME',
      'An API token needs a name of 1 to 100 characters (what it is for), without control characters',
      'For example: iron api-tokens create ci-deploy',
    )
  }
  return text
}

function checkRole(value: unknown): UserRole {
  if (isRole(value)) return value
  throw usageError('INVALID_ROLE', `Unknown role '${String(value)}'`, 'Use admin, user or viewer')
}

function checkExpiry(ms: unknown): number | undefined {
  if (ms === undefined || ms === null) return undefined
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms <= 0 || ms > MAX_EXPIRY_MS) {
    throw usageError(
      'INVALID_EXPIRY',
      'Token expiry must be more than zero and at most 10 years',
      'For example --expires-in 90d',
    )
  }
  return ms
}

const isExpired = (token: { expires_at: number | null }, now: number) =>
  token.expires_at !== null && token.expires_at <= now

function view(token: ApiTokenWithUser, now: number): ApiToken {
  return {
    id: token.id,
    user_id: token.user_id,
    user_name: token.user_name,
    name: token.name,
    role: token.role,
    prefix: token.prefix,
    status: token.revoked_at !== null ? 'revoked' : isExpired(token, now) ? 'expired' : 'live',
    created_at: iso(token.created_at)!,
    expires_at: iso(token.expires_at),
    last_used_at: iso(token.last_used_at),
    revoked_at: iso(token.revoked_at),
  }
}
