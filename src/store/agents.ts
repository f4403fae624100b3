import type { Db } from './db.js'

export interface AgentRow {
  id: string
  name: string
  description: string
  project: string | null
  allowed_providers: string
  allowed_models: string
  rpm_limit: number | null
  tpm_limit: number | null
  safety_policy: string | null
  status: 'active' | 'suspended' | 'deleted'
  owner_id: string | null
  created_at: number
  updated_at: number
  deleted_at: number | null
}

const COLUMNS =
  'id, name, description, project, allowed_providers, allowed_models, rpm_limit, tpm_limit, safety_policy, status, owner_id, created_at, updated_at, deleted_at'

export class AgentsRepo {
  constructor(private readonly db: Db) {}

  insert(row: AgentRow): void {
    this.db
      .prepare(
        `INSERT INTO agents (${COLUMNS}) VALUES (@id, @name, @description, @project, @allowed_providers, @allowed_models,
          @rpm_limit, @tpm_limit, @safety_policy, @status, @owner_id, @created_at, @updated_at, @deleted_at)`,
      )
      .run(row)
  }

  update(row: AgentRow): void {
    this.db
      .prepare(
        `UPDATE agents SET name = @name, description = @description, project = @project,
          allowed_providers = @allowed_providers, allowed_models = @allowed_models, rpm_limit = @rpm_limit,
          tpm_limit = @tpm_limit, safety_policy = @safety_policy, status = @status, owner_id = @owner_id,
          updated_at = @updated_at, deleted_at = @deleted_at WHERE id = @id`,
      )
      .run(row)
  }

  byId(id: string): AgentRow | undefined {
    return this.db.prepare(`SELECT ${COLUMNS} FROM agents WHERE id = ?`).get(id) as AgentRow | undefined
  }

  /** Live (not deleted) agent by name. */
  byName(name: string): AgentRow | undefined {
    return this.db.prepare(`SELECT ${COLUMNS} FROM agents WHERE name = ? AND deleted_at IS NULL`).get(name) as
      | AgentRow
      | undefined
  }

  /** Agents by name; `ownerId` keeps only that user's. */
  list(options: { includeDeleted?: boolean; project?: string; ownerId?: string } = {}): AgentRow[] {
    const where: string[] = []
    const params: unknown[] = []
    if (!options.includeDeleted) where.push('deleted_at IS NULL')
    if (options.ownerId !== undefined) {
      where.push('owner_id = ?')
      params.push(options.ownerId)
    }
    if (options.project !== undefined) {
      where.push('project = ?')
      params.push(options.project)
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : ''
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM agents ${clause} ORDER BY name, id`)
      .all(...params) as AgentRow[]
  }

  /** Live agents whose allowed providers name this provider. */
  usingProvider(name: string): AgentRow[] {
    // Read whole and filtered here: the same on both stores, whose JSON functions differ (few live agents).
    const rows = this.db
      .prepare(`SELECT ${COLUMNS} FROM agents WHERE deleted_at IS NULL ORDER BY name`)
      .all() as AgentRow[]
    return rows.filter((row) => (JSON.parse(row.allowed_providers) as string[]).includes(name))
  }
}
