import type { UserRole } from './api.js'

/** Roles from least to most: each may do what the ones before it may. */
export const ROLE_RANK: Record<UserRole, number> = { viewer: 0, user: 1, admin: 2 }

export const isRole = (value: unknown): value is UserRole =>
  typeof value === 'string' && Object.hasOwn(ROLE_RANK, value)

/** The narrower of two roles (an API token acts with at most its user's role). */
export const narrowerRole = (a: UserRole, b: UserRole): UserRole => (ROLE_RANK[a] <= ROLE_RANK[b] ? a : b)
