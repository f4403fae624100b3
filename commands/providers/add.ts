import { Args, Flags } from '@oclif/core'
import { readApiKey } from '../../src/cli/api-key.js'
import { IronCommand, storeFlags } from '../../src/cli/base-command.js'
import { printProvider } from '../../src/cli/views.js'
import type { Provider, ProviderKind } from '../../src/services/api.js'

export const apiKeyFlags = {
  'api-key-stdin': Flags.boolean({ description: 'Read the API key from stdin' }),
  'api-key-env': Flags.string({ description: 'Read the API key from this environment variable' }),
}

export default class ProvidersAdd extends IronCommand<Provider> {
  static override summary = 'Add a provider credential (the key is encrypted at rest and only shown masked)'
  static override description =
    'The API key is read from a hidden prompt, from stdin (--api-key-stdin) or from a named environment variable ' +
    '(--api-key-env), never from a flag value that would stay in shell history. Kinds: openai, anthropic, ' +
    'openai-compatible (any server speaking the OpenAI API; needs --base-url), and mock: answered in-process, ' +
    'for any model (priced as the catalog prices it, or as mock-small), with no key and no account, for dry runs.'
  static override examples = [
    '<%= config.bin %> providers add openai --kind openai --api-key-env OPENAI_API_KEY',
    'pass show anthropic | <%= config.bin %> providers add claude --kind anthropic --api-key-stdin',
    '<%= config.bin %> providers add ollama --kind openai-compatible --base-url http://127.0.0.1:11434/v1',
    '<%= config.bin %> providers add openai --kind mock',
  ]
  static override args = {
    name: Args.string({ description: 'Provider name (agents refer to it)', required: true }),
  }
  static override flags = {
    kind: Flags.string({
      description: 'Provider kind',
      options: ['openai', 'anthropic', 'openai-compatible', 'mock'],
      required: true,
    }),
    'base-url': Flags.string({ description: 'Base URL (OpenAI-style URLs include /v1)' }),
    description: Flags.string({ description: 'A note for people' }),
    ...apiKeyFlags,
    ...storeFlags,
  }

  async run(): Promise<Provider> {
    const { args, flags } = await this.parse(ProvidersAdd)
    const keyFlag = flags['api-key-env']
      ? '--api-key-env'
      : flags['api-key-stdin']
        ? '--api-key-stdin'
        : undefined
    // A dry run swaps --kind openai for --kind mock and keeps the rest of the line: the key flag does no harm.
    if (flags.kind === 'mock' && keyFlag)
      this.out.warn(`A mock provider takes no API key: ${keyFlag} is ignored (nothing is read or stored)`)
    const apiKey =
      flags.kind === 'mock'
        ? undefined
        : await readApiKey(flags, { prompt: flags.kind === 'openai' || flags.kind === 'anthropic' })
    const provider = await (await this.services(flags)).providers.add({
      name: args.name,
      kind: flags.kind as ProviderKind,
      base_url: flags['base-url'],
      api_key: apiKey,
      description: flags.description,
    })
    this.out.success(`Added provider ${provider.name}. Check it with: iron providers test ${provider.name}`)
    printProvider(this.out, provider)
    return provider
  }
}
