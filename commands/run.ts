import { Args, Flags } from '@oclif/core'
import { IronCommand, localStoreFlags } from '../src/cli/base-command.js'
import { describeRun, type RunSummary, runBehindGateway } from '../src/cli/run.js'
import { usageError } from '../src/core/errors.js'

export default class Run extends IronCommand<RunSummary> {
  static override summary =
    'Run a command as an agent, behind the gateway (its OpenAI and Anthropic SDKs pointed at it)'
  static override description =
    'Starts a gateway on the store for the run, or shares one already running there, and runs the command ' +
    'with OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY and ANTHROPIC_AUTH_TOKEN set ' +
    'to it and to a run token: an IC token of the agent that expires when the run ends and is revoked then ' +
    '(or, with IRON_TOKEN or --token-stdin, the agent\u2019s own token). The token is in the command\u2019s ' +
    'environment only. Its requests are the agent\u2019s: its budget, limits and firewall apply. Signals are ' +
    'passed on and the command\u2019s exit code is iron\u2019s; when it ends, what its requests did is printed on ' +
    'stderr (with --json, as the result on stdout, after the command\u2019s own output).'
  static override examples = [
    '<%= config.bin %> run --agent support-bot -- python agent.py',
    '<%= config.bin %> run --agent coder -- claude',
    '<%= config.bin %> run --agent batch --json -- node batch.js > run.json',
    'pass show iron/support-bot | <%= config.bin %> run --token-stdin -- python agent.py',
  ]
  static override strict = false
  static override args = {
    command: Args.string({ description: 'The command to run and its arguments, after --', required: true }),
  }
  static override flags = {
    agent: Flags.string({ char: 'a', description: 'The agent to run as (name or ID)', env: 'IRON_AGENT' }),
    'token-stdin': Flags.boolean({
      description:
        "Read the agent's own IC token from stdin instead of minting a run token (the command gets no stdin)",
    }),
    port: Flags.integer({
      description: 'Port of a gateway started for the run (default: any free one)',
      default: 0,
      min: 0,
      max: 65535,
    }),
    'forward-signals': Flags.boolean({
      description:
        'Pass Ctrl-C (SIGINT) sent to iron on to the command (default: only when not in a terminal, where Ctrl-C reaches the command itself)',
      allowNo: true,
    }),
    ...localStoreFlags,
  }

  async run(): Promise<RunSummary> {
    const { flags, argv } = await this.parse(Run).catch((error: Error) => {
      // `iron run --agent a python agent.py -v`: -v was meant for the command, which needs a -- before it.
      if (!this.argv.includes('--') && /^Nonexistent flag/.test(error.message))
        throw usageError(
          'USAGE',
          error.message.split('\n')[0]!,
          'Put the command after --: iron run --agent NAME -- <command> [its flags]',
        )
      throw error
    })
    await this.warnLocalOnly('iron run', flags)
    const summary = await runBehindGateway({
      ctx: await this.localFile(flags),
      argv: argv as string[],
      agent: flags.agent,
      tokenStdin: flags['token-stdin'],
      port: flags.port,
      forwardSignals: flags['forward-signals'],
      note: (line) => this.out.note(line),
    })
    if (!this.jsonEnabled()) this.out.success(describeRun(summary))
    this.setExitCode(summary.exit_code)
    return summary
  }
}
