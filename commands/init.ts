import { IronCommand, localStoreFlags } from '../src/cli/base-command.js'
import { migrateStore } from '../src/services/migrate.js'
import { type InitResult, initStore } from '../src/services/setup.js'

export default class Init extends IronCommand<InitResult> {
  static override summary = 'Create the store and the master key, then print the next steps'
  static override description =
    'Creates the local store (a SQLite file; or, given a postgres:// URL, migrates that database) and the ' +
    'master key that encrypts provider keys. ' +
    'Running it again changes nothing that exists; it only fills in what is missing.'
  static override examples = ['<%= config.bin %> init', '<%= config.bin %> init --db ./team.db --json']
  static override flags = { ...localStoreFlags }

  async run(): Promise<InitResult> {
    const { flags } = await this.parse(Init)
    await this.warnLocalOnly('iron init', flags)
    const ctx = await this.local(flags)
    // A PostgreSQL database is created by its admin; iron brings it to its schema (as iron db migrate).
    const migrated = ctx.store.kind === 'postgres' ? await migrateStore(ctx.store) : undefined
    const result = initStore(ctx, migrated ? migrated.from === 0 : undefined)
    if (result.store.created) this.out.success(`Created the store at ${result.store.path}`)
    else
      this.out.success(`The store at ${result.store.path} is ready (schema v${result.store.schema_version})`)
    if (result.master_key.created) this.out.success(`Created the master key in ${result.master_key.location}`)
    this.out.record([
      { label: 'Store', value: result.store.path },
      { label: 'Schema', value: `v${result.store.schema_version}` },
      { label: 'Master key', value: `${result.master_key.backend} (${result.master_key.location})` },
      {
        label: 'Config',
        value: result.config_exists
          ? result.config_path
          : `${result.config_path} (not created: defaults apply until iron config set writes it)`,
      },
    ])
    this.out.line()
    this.out.line('Next steps:')
    for (const step of result.next_steps) this.out.line(`  ${step}`)
    return result
  }
}
