import { Args } from '@oclif/core'
import { IronCommand } from '../../src/cli/base-command.js'
import { assertConfigKey, envNameOf, IronConfig } from '../../src/config/config.js'
import { setConfigValue } from '../../src/services/config-changes.js'
import { WEBHOOK_SECRET_ENV, type WebhookSetup } from '../../src/services/webhooks.js'

interface SetResult {
  key: string
  value: string | number
  path: string
  /** alerts.webhook_url: the signing secret when one was made (shown this once), else null. */
  webhook_secret?: string | null
  webhook_secret_source?: WebhookSetup['secret_source']
}

export default class ConfigSet extends IronCommand<SetResult> {
  static override summary = 'Set a config key in the config file'
  static override description =
    'The value is checked before anything is written; the file is replaced atomically.'
  static override examples = [
    '<%= config.bin %> config set gateway.port 9000',
    '<%= config.bin %> config set credential_store file',
    '<%= config.bin %> config set alerts.webhook_url https://hooks.slack.com/services/T000/B000/XXXX',
  ]
  static override args = {
    key: Args.string({ description: 'Config key (see: iron config list)', required: true }),
    value: Args.string({ description: 'New value', required: true }),
  }

  async run(): Promise<SetResult> {
    const { args } = await this.parse(ConfigSet)
    const key = assertConfigKey(args.key)
    const config = await this.loadConfig()
    const { value, webhook } = await setConfigValue(
      config,
      key,
      args.value,
      await this.local().catch(() => undefined),
    )
    this.out.success(`${key} = ${IronConfig.shown(key, value)} (in ${config.path})`)
    const env = envNameOf(key)
    if (process.env[env]) this.out.warn(`${env} is set in the environment and wins over the file`)
    if (!webhook || !('secret_source' in webhook))
      return { key, value: IronConfig.shown(key, value)!, path: config.path }
    if (webhook.secret) {
      this.out.line(webhook.secret)
      this.out.warn(
        'This is the only time the webhook signing secret is shown: give it to the receiver, which checks x-iron-signature with it (see the README).',
      )
    } else {
      this.out.note(
        webhook.secret_source === 'env'
          ? `Alerts are signed with ${WEBHOOK_SECRET_ENV} from the environment.`
          : 'Alerts are signed with the secret made when the webhook was first set (unset and set the URL for a new one).',
      )
    }
    if (webhook.dropped)
      this.out.warn(`Gave up ${webhook.dropped} alert(s) still pending for the previous URL`)
    return {
      key,
      value: value!,
      path: config.path,
      webhook_secret: webhook.secret,
      webhook_secret_source: webhook.secret_source,
    }
  }
}
