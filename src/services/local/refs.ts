import { notFound } from '../../core/errors.js'
import { looksLikeId, parseId } from '../../core/ids.js'
import type { AgentRow, AgentsRepo } from '../../store/agents.js'
import type { ProviderRow, ProvidersRepo } from '../../store/providers.js'
import { hiddenAgent, mayRead } from '../authz.js'

/**
 * An agent by ID (`agent_…`) or by name. Deleted agents are found by ID only, when asked for. In a server
 * request of a user or viewer, another user's agent is not found either (the same error: nothing leaks).
 */
export function findAgent(
  repo: AgentsRepo,
  ref: string,
  options: { includeDeleted?: boolean } = {},
): AgentRow {
  const trimmed = ref.trim()
  const row = looksLikeId(trimmed.toLowerCase(), 'agent')
    ? repo.byId(parseId(trimmed, 'agent'))
    : repo.byName(trimmed)
  if (row && !mayRead(row)) throw hiddenAgent(trimmed)
  if (!row || (row.deleted_at !== null && !options.includeDeleted)) {
    throw notFound(
      'AGENT_NOT_FOUND',
      row ? `Agent '${trimmed}' was deleted` : `No agent '${trimmed}'`,
      'List agents with: iron agents list',
    )
  }
  return row
}

export function findProvider(repo: ProvidersRepo, ref: string): ProviderRow {
  const trimmed = ref.trim()
  const row = looksLikeId(trimmed.toLowerCase(), 'prov')
    ? repo.byId(parseId(trimmed, 'prov'))
    : repo.byName(trimmed)
  if (!row || row.removed_at !== null) {
    throw notFound(
      'PROVIDER_NOT_FOUND',
      `No provider '${trimmed}'`,
      'List providers with: iron providers list',
    )
  }
  return row
}

export const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString()
