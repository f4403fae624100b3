import { IronCommand, localStoreFlags } from '../../src/cli/base-command.js'
import { type MigrateResult, migrateStore } from '../../src/services/migrate.js'

export default class DbMigrate extends IronCommand<MigrateResult> {
  static override summary = "Bring the store's schema to the version this iron knows (SQLite or PostgreSQL)"
  static override description =
    'On a SQLite file it opens the store, which creates and migrates it. On a PostgreSQL database ' +
    '(--db or IRON_DB set to a postgres:// URL) it applies the pending versions, each in a transaction of its ' +
    'own, once even when several replicas migrate at the same time. A store migrated by a newer iron is ' +
    'refused and left untouched.'
  static override examples = [
    '<%= config.bin %> db migrate',
    '<%= config.bin %> db migrate --db ./team.db --json',
    '<%= config.bin %> db migrate --db postgres://iron@db.example.com:5432/iron --json',
  ]
  static override flags = { ...localStoreFlags }

  async run(): Promise<MigrateResult> {
    const { flags } = await this.parse(DbMigrate)
    const store = await this.store(flags)
    if (store.kind === 'sqlite') await this.warnLocalOnly('iron db migrate', flags)
    const result = await migrateStore(store)
    const name = result.store === 'postgresql' ? 'PostgreSQL' : 'SQLite'
    const schema =
      result.applied.length === 0
        ? `schema v${result.to} (current, nothing to apply)`
        : `schema v${result.from} → v${result.to} (${result.applied.length} applied)`
    this.out.line(`${name} ${result.version} at ${result.location}: ${schema}`)
    return result
  }
}
