import { Args } from '@oclif/core'
import { IronCommand } from '../../src/cli/base-command.js'
import { assertConfigKey, envNameOf } from '../../src/config/config.js'
import { setConfigValue } from '../../src/services/config-changes.js'

interface SetResult {
  key: string
  value: string | number
  path: string
}

export default class ConfigSet extends IronCommand<SetResult> {
  static override summary = 'Set a config key in the config file'
  static override description =
    'The value is checked before anything is written; the file is replaced atomically.'
  static override examples = [
    '<%= config.bin %> config set gateway.port 9000',
    '<%= config.bin %> config set credential_store file',
  ]
  static override args = {
    key: Args.string({ description: 'Config key (see: iron config list)', required: true }),
    value: Args.string({ description: 'New value', required: true }),
  }

  async run(): Promise<SetResult> {
    const { args } = await this.parse(ConfigSet)
    const key = assertConfigKey(args.key)
    const config = await this.loadConfig()
    const { value } = await setConfigValue(config, key, args.value, await this.local().catch(() => undefined))
    this.out.success(`${key} = ${value} (in ${config.path})`)
    const env = envNameOf(key)
    if (process.env[env]) this.out.warn(`${env} is set in the environment and wins over the file`)
    return { key, value: value!, path: config.path }
  }
}
