import { Args } from '@oclif/core'
import { IronCommand } from '../../src/cli/base-command.js'
import { assertConfigKey } from '../../src/config/config.js'
import { setConfigValue } from '../../src/services/config-changes.js'

interface UnsetResult {
  key: string
  removed: boolean
}

export default class ConfigUnset extends IronCommand<UnsetResult> {
  static override summary = 'Remove a config key from the config file, so its default applies'
  static override examples = ['<%= config.bin %> config unset gateway.port']
  static override args = {
    key: Args.string({ description: 'Config key (see: iron config list)', required: true }),
  }

  async run(): Promise<UnsetResult> {
    const { args } = await this.parse(ConfigUnset)
    const key = assertConfigKey(args.key)
    const config = await this.loadConfig()
    const { removed, webhook } = await setConfigValue(
      config,
      key,
      undefined,
      await this.local().catch(() => undefined),
    )
    this.out.success(removed ? `Removed ${key}` : `${key} was not set in the file`)
    if (webhook) {
      this.out.note(
        `Alert webhooks are off; the signing secret is forgotten${webhook.dropped ? ` and ${webhook.dropped} pending alert(s) given up` : ''}.`,
      )
    }
    return { key, removed }
  }
}
