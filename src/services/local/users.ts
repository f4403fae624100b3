import { IronError, notFound, refused, usageError } from '../../core/errors.js'
import { looksLikeId, newId, parseId } from '../../core/ids.js'
import { checkPassword, hashPassword } from '../../core/passwords.js'
import type { Db } from '../../store/db.js'
import type { ApiTokensRepo, SessionsRepo, UserRow, UsersRepo } from '../../store/users.js'
import type { User, UserInput, UserRole, UsersApi, UserUpdate, Whoami } from '../api.js'
import { authorize, isAdmin, isRole } from '../authz.js'
import { checkName } from './agents.js'
import { changes, type LocalAudit } from './audit.js'
import { iso } from './refs.js'

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

/** A user by ID (`user_…`) or by name. Deleted users are found by ID only, when asked for. */
export function findUser(repo: UsersRepo, ref: string, options: { includeDeleted?: boolean } = {}): UserRow {
  const trimmed = ref.trim()
  const row = looksLikeId(trimmed.toLowerCase(), 'user')
    ? repo.byId(parseId(trimmed, 'user'))
    : repo.byName(trimmed)
  if (!row || (row.deleted_at !== null && !options.includeDeleted)) {
    throw notFound(
      'USER_NOT_FOUND',
      row ? `User '${trimmed}' was deleted` : `No user '${trimmed}'`,
      'List users with: iron users list',
    )
  }
  return row
}

export function userView(row: UserRow, now: number): User {
  return {
    id: row.id,
    name: row.name,
    display_name: row.display_name,
    email: row.email,
    role: row.role,
    status: row.status,
    has_password: row.password_hash !== null,
    locked_until: row.locked_until !== null && row.locked_until > now ? iso(row.locked_until) : null,
    last_login_at: iso(row.last_login_at),
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    deleted_at: iso(row.deleted_at),
  }
}

function checkRole(value: unknown): UserRole {
  if (isRole(value)) return value
  throw usageError('INVALID_ROLE', `Unknown role '${String(value)}'`, 'Use admin, user or viewer')
}

function checkDisplayName(value: unknown): string {
  if (typeof value !== 'string') throw usageError('INVALID_TEXT', 'The display name must be text')
  const text = value.trim()
  if (text.length > 100 || /\p{Cc}/u.test(text)) {
    throw usageError(
      'INVALID_TEXT',
      'The display name must be at most 100 characters, without control characters',
    )
  }
  return text
}

function checkEmail(value: unknown): string | null {
  if (value === null || value === '') return null
  if (typeof value !== 'string' || value.trim().length > 254 || !EMAIL_RE.test(value.trim())) {
    throw usageError(
      'INVALID_EMAIL',
      `'${String(value)}' is not an email address`,
      'For example ada@example.com',
    )
  }
  return value.trim()
}

/**
 * The people of `iron serve` (admins only, except that anyone may read themselves). A store keeps at least
 * one active admin: the last one cannot be demoted, suspended or deleted. Suspending or deleting a user, or
 * resetting their password, signs them out everywhere; suspending and deleting also stop their API tokens.
 * Passwords are checked (12 characters or more, not the name) and stored as scrypt hashes, never logged.
 */
export class LocalUsers implements UsersApi {
  constructor(
    private readonly db: Db,
    private readonly repo: UsersRepo,
    private readonly sessions: SessionsRepo,
    private readonly apiTokens: ApiTokensRepo,
    private readonly audit: LocalAudit,
    private readonly now: () => number,
    /** The local store's actor (`local:<OS user>`), for whoami without a principal. */
    private readonly localActor: string,
  ) {}

  async create(input: UserInput): Promise<User> {
    authorize('users.create')
    const name = checkName(input.name, 'user', 'user_')
    const role = checkRole(input.role ?? 'user')
    const displayName = input.display_name === undefined ? '' : checkDisplayName(input.display_name)
    const email = input.email === undefined ? null : checkEmail(input.email)
    const hash = input.password === undefined ? null : await hashPassword(checkPassword(input.password, name))
    return this.#tx(() => {
      if (this.repo.byName(name)) {
        throw new IronError('USER_NAME_TAKEN', `A user named '${name}' already exists`, {
          hint: 'Choose another name, or change that user with: iron users update',
        })
      }
      const now = this.now()
      const row: UserRow = {
        id: newId('user', now),
        name,
        display_name: displayName,
        email,
        role,
        status: 'active',
        password_hash: hash,
        password_changed_at: hash ? now : null,
        failed_logins: 0,
        locked_until: null,
        last_login_at: null,
        created_at: now,
        updated_at: now,
        deleted_at: null,
      }
      this.repo.insert(row)
      const user = userView(row, now)
      this.#record('user.create', row, { after: user })
      return user
    })
  }

  async list(options: { include_deleted?: boolean } = {}): Promise<User[]> {
    authorize('users.list')
    const now = this.now()
    return this.repo.list({ includeDeleted: options.include_deleted }).map((row) => userView(row, now))
  }

  /** A user or viewer may read themselves only; anyone else is not there for them. */
  async get(ref: string): Promise<User> {
    const principal = authorize('users.get')
    const row = findUser(this.repo, ref, { includeDeleted: true })
    if (!isAdmin(principal) && row.id !== principal!.user_id) {
      throw notFound('USER_NOT_FOUND', `No user '${ref.trim()}'`, 'List users with: iron users list')
    }
    return userView(row, this.now())
  }

  async update(ref: string, update: UserUpdate): Promise<User> {
    authorize('users.update')
    const role = update.role === undefined ? undefined : checkRole(update.role)
    const displayName = update.display_name === undefined ? undefined : checkDisplayName(update.display_name)
    const email = update.email === undefined ? undefined : checkEmail(update.email)
    return this.#tx(() => {
      const row = findUser(this.repo, ref)
      if (role !== undefined && role !== 'admin') this.#keepAnAdmin(row, `make ${row.name} a ${role}`)
      const next: UserRow = {
        ...row,
        role: role ?? row.role,
        display_name: displayName ?? row.display_name,
        email: email === undefined ? row.email : email,
        updated_at: this.now(),
      }
      return this.#save('user.update', row, next)
    })
  }

  async suspend(ref: string): Promise<User> {
    authorize('users.suspend')
    return this.#tx(() => {
      const row = findUser(this.repo, ref)
      if (row.status === 'suspended') return userView(row, this.now())
      this.#keepAnAdmin(row, `suspend ${row.name}`)
      const now = this.now()
      const sessions = this.sessions.revokeForUser(row.id, now)
      return this.#save(
        'user.suspend',
        row,
        { ...row, status: 'suspended', updated_at: now },
        { sessions_ended: sessions },
      )
    })
  }

  /** Lets a suspended user sign in again, and lifts a lock after failed logins. */
  async activate(ref: string): Promise<User> {
    authorize('users.activate')
    return this.#tx(() => {
      const row = findUser(this.repo, ref)
      const now = this.now()
      const locked = row.locked_until !== null && row.locked_until > now
      if (row.status === 'active' && !locked && row.failed_logins === 0) return userView(row, now)
      const next: UserRow = {
        ...row,
        status: 'active',
        failed_logins: 0,
        locked_until: null,
        updated_at: now,
      }
      return this.#save('user.activate', row, next, locked ? { unlocked: true } : {})
    })
  }

  async delete(ref: string): Promise<User> {
    authorize('users.delete')
    return this.#tx(() => {
      const row = findUser(this.repo, ref)
      this.#keepAnAdmin(row, `delete ${row.name}`)
      const now = this.now()
      const sessions = this.sessions.revokeForUser(row.id, now)
      const tokens = this.apiTokens.revokeForUser(row.id, now)
      const next: UserRow = { ...row, status: 'deleted', deleted_at: now, updated_at: now }
      return this.#save('user.delete', row, next, { sessions_ended: sessions, api_tokens_revoked: tokens })
    })
  }

  async resetPassword(ref: string, password: string): Promise<User> {
    authorize('users.resetPassword')
    const found = findUser(this.repo, ref)
    const hash = await hashPassword(checkPassword(password, found.name))
    return this.#tx(() => {
      const row = findUser(this.repo, found.id)
      const now = this.now()
      const sessions = this.sessions.revokeForUser(row.id, now)
      const next: UserRow = {
        ...row,
        password_hash: hash,
        password_changed_at: now,
        failed_logins: 0,
        locked_until: null,
        updated_at: now,
      }
      this.repo.update(next)
      this.#record('user.password_reset', row, {
        sessions_ended: sessions,
        had_password: row.password_hash !== null,
      })
      return userView(next, now)
    })
  }

  /** Who the caller is: a server request's user, or on the local store its OS user, with every right. */
  async whoami(): Promise<Whoami> {
    const principal = authorize('whoami')
    if (!principal) {
      return {
        mode: 'local',
        server: null,
        actor: this.localActor,
        role: 'admin',
        user: null,
        via: 'local',
        expires_at: null,
      }
    }
    const row = principal.user_id ? this.repo.byId(principal.user_id) : undefined
    return {
      mode: 'server',
      server: null,
      actor: principal.actor,
      role: principal.role,
      user: row ? userView(row, this.now()) : null,
      via: principal.via === 'system' ? 'local' : principal.via,
      expires_at: iso(principal.expires_at ?? null),
    }
  }

  /** Refuse to leave the store without an active admin (nobody could manage `iron serve` any more). */
  #keepAnAdmin(row: UserRow, what: string): void {
    if (row.role !== 'admin' || row.status !== 'active') return
    if (this.repo.activeAdmins(row.id) > 0) return
    throw refused(
      'LAST_ADMIN',
      `Cannot ${what}: ${row.name} is the only active admin`,
      'Make another user an admin first: iron users create NAME --admin, or iron users update NAME --role admin',
    )
  }

  #save(action: string, before: UserRow, next: UserRow, extra: Record<string, unknown> = {}): User {
    this.repo.update(next)
    const now = this.now()
    const after = userView(next, now)
    this.#record(action, next, { changes: changes(userView(before, now), after), ...extra })
    return after
  }

  /** User events never carry a password or its hash. */
  #record(action: string, row: UserRow, data: Record<string, unknown>): void {
    this.audit.record({
      action,
      resource_type: 'user',
      resource_id: row.id,
      outcome: 'success',
      data: { user: row.name, ...data },
    })
  }

  #tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }
}
