import { Args } from '@oclif/core'
import { IronCommand } from '../../src/cli/base-command.js'
import { assertConfigKey, type ConfigEntry, IronConfig } from '../../src/config/config.js'

export default class ConfigGet extends IronCommand<ConfigEntry> {
  static override summary = 'Print the effective value of a config key'
  static override description =
    'Precedence: command-line flag > IRON_* environment variable > config file > default.'
  static override examples = [
    '<%= config.bin %> config get gateway.port',
    '<%= config.bin %> config get db --json',
  ]
  static override args = {
    key: Args.string({ description: 'Config key (see: iron config list)', required: true }),
  }

  async run(): Promise<ConfigEntry> {
    const { args } = await this.parse(ConfigGet)
    const key = assertConfigKey(args.key)
    const found = (await this.loadConfig()).entry(key)
    const entry = { ...found, value: IronConfig.shown(key, found.value) }
    this.out.line(entry.value === undefined ? '' : String(entry.value))
    if (this.out.tty) this.out.note(this.out.errColor.dim(`(from ${entry.source})`))
    return entry
  }
}
