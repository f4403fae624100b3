import { Flags } from '@oclif/core'
import { IronCommand, storeFlags } from '../../../src/cli/base-command.js'
import { readJsonArg } from '../../../src/cli/json-arg.js'
import { printPolicy } from '../../../src/cli/views.js'
import { usageError } from '../../../src/core/errors.js'
import type { SafetyPolicyView } from '../../../src/services/api.js'

export default class SafetyPolicySet extends IronCommand<SafetyPolicyView> {
  static override summary =
    'Change the default safety policy (every agent without its own changes follows it)'
  static override description =
    'Each category (or group: pii, secret, injection, all) gets block, redact, log or off, separately for input and ' +
    'output. Changes are merged into the current default unless --replace.'
  static override examples = [
    '<%= config.bin %> safety policy set --set input.email=redact --set output.pii=redact',
    '<%= config.bin %> safety policy set --policy policy.json --replace',
    '<%= config.bin %> safety policy set --injection-threshold 0.7',
  ]
  static override flags = {
    set: Flags.string({
      description: 'direction.category=action, e.g. input.card=block (repeatable)',
      multiple: true,
    }),
    policy: Flags.string({ description: 'A policy as a JSON file or inline JSON' }),
    'injection-threshold': Flags.string({
      description: 'Score from 0 to 1 above which text counts as prompt injection',
    }),
    replace: Flags.boolean({ description: 'Replace the default changes instead of merging into them' }),
    ...storeFlags,
  }

  async run(): Promise<SafetyPolicyView> {
    const { flags } = await this.parse(SafetyPolicySet)
    const change: {
      input?: Record<string, string>
      output?: Record<string, string>
      injection_threshold?: number
    } = {
      ...((flags.policy ? readJsonArg(flags.policy, 'policy') : {}) as object),
    }
    for (const item of flags.set ?? []) {
      const match = /^(input|output)\.([a-z_]+)=([a-z]+)$/.exec(item.trim())
      if (!match)
        throw usageError(
          'INVALID_SETTING',
          `'${item}' is not direction.category=action`,
          'For example --set input.card=block or --set output.pii=redact',
        )
      const direction = match[1] as 'input' | 'output'
      change[direction] = { ...change[direction], [match[2]!]: match[3]! }
    }
    if (flags['injection-threshold'] !== undefined)
      change.injection_threshold = Number(flags['injection-threshold'])
    if (Object.keys(change).length === 0)
      throw usageError('NOTHING_TO_SET', 'Nothing to change', 'Give --set, --policy or --injection-threshold')
    const view = await (await this.services(flags)).safety.setDefault(change, { replace: flags.replace })
    this.out.success('Default safety policy changed')
    printPolicy(this.out, view)
    return view
  }
}
