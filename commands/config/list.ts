import { IronCommand } from '../../src/cli/base-command.js'
import { type ConfigEntry, IronConfig } from '../../src/config/config.js'

export default class ConfigList extends IronCommand<ConfigEntry[]> {
  static override summary = 'List every config key with its effective value and where it comes from'
  static override examples = ['<%= config.bin %> config list', '<%= config.bin %> config list --json']

  async run(): Promise<ConfigEntry[]> {
    await this.parse(ConfigList)
    const entries = (await this.loadConfig())
      .list()
      .map((e) => ({ ...e, value: IronConfig.shown(e.key, e.value) }))
    this.out.table(entries, [
      { header: 'Key', value: (e) => e.key },
      { header: 'Value', value: (e) => e.value, shrink: true },
      { header: 'Source', value: (e) => e.source },
      { header: 'Env', value: (e) => e.env },
    ])
    return entries
  }
}
