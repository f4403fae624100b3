import { notFound } from '../../core/errors.js'
import { looksLikeId, parseId } from '../../core/ids.js'
import type { UserRow, UsersRepo } from '../../store/users.js'
import type { User } from '../api.js'
import { iso } from './refs.js'

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
