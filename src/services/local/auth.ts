import { authError, IronError, usageError } from '../../core/errors.js'
import { newId } from '../../core/ids.js'
import { dummyHash, hashPassword, needsRehash, verifyPassword } from '../../core/passwords.js'
import { displayPrefix, hashesEqual, hashSecret, isWellFormedSecret, newSecret } from '../../core/secrets.js'
import type { Db } from '../../store/db.js'
import type {
  ApiTokensRepo,
  RateDecision,
  RateLimitsRepo,
  SessionsRepo,
  UserRow,
  UsersRepo,
} from '../../store/users.js'
import type { User } from '../api.js'
import { narrowerRole } from '../authz.js'
import type { Principal } from '../principal.js'
import type { LocalAudit } from './audit.js'
import { iso } from './refs.js'
import { userView } from './users.js'

const MINUTE = 60_000
export const DEFAULT_SESSION_TTL_MS = 12 * 3_600_000
/** However often it is used, a session ends this long after sign-in. */
export const MAX_SESSION_MS = 7 * 86_400_000
/** Failed logins in a row that lock an account, and how long the first lock lasts (doubling, at most a day). */
export const LOCK_AFTER_FAILURES = 5
export const FIRST_LOCK_MS = 15 * MINUTE
export const MAX_LOCK_MS = 24 * 3_600_000
/** Login attempts per minute: from one address, and for one account name (whoever tries). */
export const LOGIN_LIMIT_PER_IP = 10
export const LOGIN_LIMIT_PER_ACCOUNT = 5
/** Uses of a session or API token closer together than this are not written (one write a minute at most). */
const TOUCH_EVERY_MS = MINUTE
const MAX_NAME = 200
const MAX_USER_AGENT = 300

export interface LoginInput {
  name: string
  password: string
  ip: string
  user_agent?: string
}

export interface LoginResult {
  /** The session secret (iron_st_…), shown once. */
  token: string
  expires_at: string
  user: User
}

export interface LocalAuthOptions {
  /** How long a session lives after its last use (config serve.session_ttl). */
  sessionTtlMs?: number
}

type Refusal = { error: IronError }

/**
 * Sign-in for `iron serve`: passwords checked against scrypt hashes, opaque sessions (`iron_st_`) and API
 * tokens (`iron_at_`) stored as SHA-256, each turned into the Principal a request runs as. Identity comes only
 * from the secret. Logins are limited per address and per account name (GCRA in the store, so every server
 * process on it shares them), lock an account after repeated failures, and are audited, success or failure,
 * without the password.
 */
export class LocalAuth {
  readonly #sessionTtl: number

  constructor(
    private readonly db: Db,
    private readonly users: UsersRepo,
    private readonly sessions: SessionsRepo,
    private readonly apiTokens: ApiTokensRepo,
    private readonly limits: RateLimitsRepo,
    private readonly audit: LocalAudit,
    private readonly now: () => number,
    options: LocalAuthOptions = {},
  ) {
    this.#sessionTtl = Math.min(options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS, MAX_SESSION_MS)
  }

  async login(input: LoginInput): Promise<LoginResult> {
    if (typeof input?.name !== 'string' || typeof input.password !== 'string') {
      throw usageError('INVALID_LOGIN', 'A login needs a name and a password')
    }
    const name = input.name.trim().slice(0, MAX_NAME)
    const ip = String(input.ip ?? '').slice(0, 100)
    const userAgent =
      typeof input.user_agent === 'string' ? input.user_agent.slice(0, MAX_USER_AGENT) : undefined
    const who = { name, ip, ...(userAgent ? { user_agent: userAgent } : {}) }

    // 1. Rate limits and lock, before any password work.
    const first = this.#tx(() => {
      const now = this.now()
      this.limits.prune(now)
      const refusal = this.#takeLimits(name, ip, now, who)
      if (refusal) return refusal
      const user = this.users.byName(name)
      if (user && isLocked(user, now)) {
        this.#fail(who, user, 'locked')
        return { error: locked(user) }
      }
      return { user }
    })
    if ('error' in first) throw first.error

    // 2. The password, in constant time whether or not the user exists or has a password.
    const stored = first.user?.password_hash ?? null
    const ok = (await verifyPassword(input.password, stored ?? (await dummyHash()))) && stored !== null
    const rehash = ok && needsRehash(stored!) ? await hashPassword(input.password) : undefined

    // 3. The outcome, against the user as it is now (another attempt may have run meanwhile).
    const outcome = this.#tx((): Refusal | LoginResult => {
      const now = this.now()
      const found = first.user ? this.users.byId(first.user.id) : undefined
      const user = found?.deleted_at === null ? found : undefined
      if (!user || user.password_hash === null || user.password_hash !== stored) {
        // Unknown, without a password, or its password changed while this attempt was checked.
        this.#fail(
          who,
          user,
          !user ? 'unknown_user' : user.password_hash === null ? 'no_password' : 'bad_password',
        )
        return { error: invalidCredentials() }
      }
      if (!ok) return this.#wrongPassword(user, who)
      if (isLocked(user, now)) {
        this.#fail(who, user, 'locked')
        return { error: locked(user) }
      }
      if (user.status !== 'active') {
        this.#fail(who, user, 'suspended')
        return { error: suspended(user.name) }
      }
      const next: UserRow = {
        ...user,
        failed_logins: 0,
        locked_until: null,
        last_login_at: now,
        ...(rehash ? { password_hash: rehash } : {}),
      }
      this.users.update(next)
      const secret = newSecret('st')
      const session = {
        id: newId('ses', now),
        user_id: user.id,
        token_hash: hashSecret(secret),
        prefix: displayPrefix(secret),
        created_at: now,
        expires_at: now + this.#sessionTtl,
        last_used_at: now,
        revoked_at: null,
        ip: ip || null,
        user_agent: userAgent ?? null,
      }
      this.sessions.insert(session)
      this.sessions.deleteEndedBefore(user.id, now - 30 * 86_400_000)
      this.audit.record({
        actor: `user:${user.name}`,
        action: 'auth.login',
        resource_type: 'user',
        resource_id: user.id,
        outcome: 'success',
        data: {
          ...who,
          session: { id: session.id, prefix: session.prefix, expires_at: iso(session.expires_at) },
          ...(rehash ? { password_rehashed: true } : {}),
        },
      })
      return { token: secret, expires_at: iso(session.expires_at)!, user: userView(next, now) }
    })
    if ('error' in outcome) throw outcome.error
    return outcome
  }

  /**
   * The principal a bearer secret proves: a live session of an active user, or a live API token of one (with
   * the narrower of the token's role and the user's). Found by its SHA-256 through the unique index, then
   * compared in constant time. Every refusal is exit code 4 (HTTP 401).
   */
  authenticate(secret: string): Principal {
    if (typeof secret !== 'string') throw authRequired()
    if (isWellFormedSecret(secret, 'st')) return this.#session(secret)
    if (isWellFormedSecret(secret, 'at')) return this.#apiToken(secret)
    throw authRequired()
  }

  /** Ends the principal's session (an API token is revoked by its ID instead). */
  async logout(principal: Principal): Promise<void> {
    if (principal.via !== 'session' || !principal.session_id) return
    const id = principal.session_id
    this.#tx(() => {
      if (!this.sessions.revoke(id, this.now())) return
      this.audit.record({
        actor: principal.actor,
        action: 'auth.logout',
        resource_type: 'user',
        resource_id: principal.user_id,
        outcome: 'success',
        data: { session: { id } },
      })
    })
  }

  /** Whether an active admin exists: `iron serve` will not start on a store without one. */
  hasAdmin(): boolean {
    return this.users.activeAdmins() > 0
  }

  #session(secret: string): Principal {
    const hash = hashSecret(secret)
    const session = this.sessions.byHash(hash)
    if (!session || !hashesEqual(session.token_hash, hash)) throw authRequired()
    const now = this.now()
    if (session.revoked_at !== null) {
      throw authError('SESSION_REVOKED', 'This session was ended (signed out)', 'Sign in again: iron login')
    }
    if (session.expires_at <= now) {
      throw authError(
        'SESSION_EXPIRED',
        `This session expired at ${iso(session.expires_at)}`,
        'Sign in again: iron login',
      )
    }
    const user = this.#activeUser(session.user_id)
    let expiresAt = session.expires_at
    if (now - (session.last_used_at ?? session.created_at) >= TOUCH_EVERY_MS) {
      expiresAt = Math.min(now + this.#sessionTtl, session.created_at + MAX_SESSION_MS)
      this.sessions.touch(session.id, now, expiresAt)
    }
    return {
      via: 'session',
      actor: `user:${user.name}`,
      user_id: user.id,
      user_name: user.name,
      role: user.role,
      session_id: session.id,
      expires_at: expiresAt,
    }
  }

  #apiToken(secret: string): Principal {
    const hash = hashSecret(secret)
    const token = this.apiTokens.byHash(hash)
    if (!token || !hashesEqual(token.token_hash, hash)) throw authRequired()
    const now = this.now()
    if (token.revoked_at !== null) {
      throw authError(
        'API_TOKEN_REVOKED',
        `API token ${token.prefix}… was revoked`,
        'Create a new one: iron api-tokens create',
      )
    }
    if (token.expires_at !== null && token.expires_at <= now) {
      throw authError(
        'API_TOKEN_EXPIRED',
        `API token ${token.prefix}… expired at ${iso(token.expires_at)}`,
        'Create a new one: iron api-tokens create',
      )
    }
    const user = this.#activeUser(token.user_id)
    if (now - (token.last_used_at ?? 0) >= TOUCH_EVERY_MS) this.apiTokens.touch(token.id, now)
    return {
      via: 'api_token',
      actor: `user:${user.name}`,
      user_id: user.id,
      user_name: user.name,
      role: narrowerRole(token.role, user.role),
      api_token_id: token.id,
      expires_at: token.expires_at,
    }
  }

  #activeUser(id: string): UserRow {
    const user = this.users.byId(id)
    if (!user || user.deleted_at !== null) {
      throw authError('SESSION_REVOKED', 'The account this credential belongs to was deleted')
    }
    if (user.status !== 'active') throw suspended(user.name)
    return user
  }

  /** Per address, then per account name; a refusal is audited at most once a minute per limit. */
  #takeLimits(name: string, ip: string, now: number, who: Record<string, string>): Refusal | undefined {
    const checks: [string, number][] = [
      [`login:ip:${ip}`, LOGIN_LIMIT_PER_IP],
      [`login:account:${name.toLowerCase()}`, LOGIN_LIMIT_PER_ACCOUNT],
    ]
    for (const [key, limit] of checks) {
      const decision: RateDecision = this.limits.take(key, limit, MINUTE, now)
      if (decision.ok) continue
      if (this.limits.take(`audit:${key}`, 1, MINUTE, now).ok) {
        this.#fail(who, this.users.byName(name), 'rate_limited', { limit: key.split(':')[1] })
      }
      const seconds = Math.max(1, Math.ceil(decision.retry_after_ms / 1_000))
      return {
        error: new IronError('RATE_LIMITED', `Too many login attempts; try again in ${seconds} s`, {
          exitCode: 4,
          hint: 'Wait before trying again',
          details: { retry_after_seconds: seconds, retry_after_ms: decision.retry_after_ms },
        }),
      }
    }
    return undefined
  }

  /** A wrong password for an existing account: counted, and the account locked at every fifth in a row. */
  #wrongPassword(user: UserRow, who: Record<string, string>): Refusal {
    const now = this.now()
    const failed = user.failed_logins + 1
    const lockNumber = failed % LOCK_AFTER_FAILURES === 0 ? failed / LOCK_AFTER_FAILURES : 0
    const lockMs = lockNumber ? Math.min(FIRST_LOCK_MS * 2 ** (lockNumber - 1), MAX_LOCK_MS) : 0
    const next: UserRow = {
      ...user,
      failed_logins: failed,
      locked_until: lockMs ? now + lockMs : user.locked_until,
    }
    this.users.update(next)
    this.#fail(who, next, 'bad_password', {
      failed_logins: failed,
      ...(lockMs ? { locked_until: iso(now + lockMs) } : {}),
    })
    return { error: lockMs ? locked(next) : invalidCredentials() }
  }

  #fail(
    who: Record<string, string>,
    user: UserRow | undefined,
    reason: string,
    extra: Record<string, unknown> = {},
  ) {
    this.audit.record({
      actor: 'anonymous',
      action: 'auth.login',
      resource_type: 'user',
      resource_id: user?.id ?? null,
      outcome: 'failure',
      data: { ...who, reason, ...extra },
    })
  }

  #tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }
}

const isLocked = (user: UserRow, now: number) => user.locked_until !== null && user.locked_until > now

const invalidCredentials = () =>
  authError('INVALID_CREDENTIALS', 'Wrong user name or password', 'Check both; an admin can reset a password')

const locked = (user: UserRow) =>
  new IronError(
    'ACCOUNT_LOCKED',
    `The account is locked after repeated failed logins, until ${iso(user.locked_until)}`,
    {
      exitCode: 4,
      hint: 'Wait until then, or ask an admin: iron users reset-password or iron users activate',
      details: { locked_until: iso(user.locked_until) },
    },
  )

const suspended = (name: string) =>
  authError('USER_SUSPENDED', `The account ${name} is suspended`, 'Ask an admin: iron users activate')

const authRequired = () =>
  authError(
    'AUTH_REQUIRED',
    'Not signed in: no valid session or API token',
    'Sign in with: iron login <url>, or pass an API token (iron_at_…)',
  )
