import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { basename } from 'node:path'
import { IronError, usageError } from '../core/errors.js'
import { formatMoney } from '../core/money.js'
import { formatDuration } from '../core/time.js'
import { startGateway } from '../gateway/server.js'
import type { LocalContext } from '../services/context.js'
import { localHolders } from '../services/gateways.js'
import { LocalGatewayControl } from '../services/local/gateway-control.js'
import { createLocalControlPlane } from '../services/local/index.js'
import { LocalRuns, RUN_RENEW_EVERY_MS, type RunIdentity, type RunTally } from '../services/local/runs.js'
import { findSharedGateway, markRunGateway } from '../services/run-gateways.js'
import { readStdin } from './prompt.js'

export interface RunOptions {
  ctx: LocalContext
  /** The command and its arguments, run as is (no shell). */
  argv: readonly string[]
  /** The agent to run as; with its own token given, it must be that token's agent. */
  agent?: string
  /** Read the agent's own IC token from stdin (the command then gets no stdin); else IRON_TOKEN, if set. */
  tokenStdin: boolean
  /** Port of a gateway started for the run (0: any free one). */
  port: number
  /** Pass SIGINT on to the command; by default only without a terminal (in one, Ctrl-C reaches it directly). */
  forwardSignals?: boolean
  note(line: string): void
}

/** What `iron run` reports, and returns with --json. */
export interface RunSummary extends RunTally {
  agent: string
  agent_id: string
  /** The program run (its arguments are not repeated here). */
  command: string
  exit_code: number
  /** The signal that ended the command, if one did. */
  signal: string | null
  gateway: { url: string; started_for_run: boolean }
  token: { id: string; prefix: string; kind: 'run' | 'agent'; revoked: boolean }
  /** The agent's budget once the run ended (the run's spend is the agent's). */
  budget: { limit_micros: number | null; spent_micros: number; remaining_micros: number | null }
  started_at: string
  ended_at: string
  duration_ms: number
}

/**
 * Run a command behind the gateway as an agent: a gateway on the agent's store (a running one, or one
 * started for the run), the SDKs' environment pointing at it with the run's token, signals passed on, and
 * what its requests did once it ends. The token reaches the command through its environment only.
 */
export async function runBehindGateway(options: RunOptions): Promise<RunSummary> {
  const { ctx } = options
  const cp = createLocalControlPlane(ctx)
  const runs = new LocalRuns(ctx.db(), cp.tokens, cp.repos.agents)
  const startedAt = Date.now()
  const secret = options.tokenStdin ? await tokenFromStdin() : process.env.IRON_TOKEN?.trim() || undefined
  const run = await runs.begin({ agent: options.agent, secret })
  if (run.agent.status !== 'active')
    options.note(
      `Warning: agent ${run.agent.name} is ${run.agent.status}: the gateway will refuse its requests`,
    )
  let gateway: Awaited<ReturnType<typeof gatewayFor>> | undefined
  let renewal: NodeJS.Timeout | undefined
  let ended: { code: number; signal: string | null }
  let tally: RunTally & { token_revoked: boolean }
  try {
    gateway = await gatewayFor(ctx, options.port)
    options.note(
      `iron run: ${basename(options.argv[0]!)} as ${run.agent.name}, through ${gateway.url} (${
        gateway.close ? 'a gateway for this run' : 'the running gateway'
      }), ${run.token.kind === 'run' ? 'run token' : 'token'} ${run.token.prefix}…`,
    )
    renewal = setInterval(() => {
      try {
        if (!runs.renew(run))
          options.note('Warning: the run token was revoked; the command is refused from now on')
      } catch {}
    }, RUN_RENEW_EVERY_MS)
    ended = await runChild(options.argv, childEnv(gateway.url, run), {
      stdin: options.tokenStdin ? 'ignore' : 'inherit',
      forwardInterrupts: options.forwardSignals ?? !inTerminal(),
    })
  } finally {
    clearInterval(renewal)
    // A gateway started here stops first, so every request it served is written before the run is counted;
    // the run token goes whatever happened.
    try {
      await gateway?.close?.()
    } finally {
      tally = await runs.end(run)
    }
  }
  const budget = await cp.budgets.get(run.agent.id)
  const endedAt = Date.now()
  return {
    agent: run.agent.name,
    agent_id: run.agent.id,
    command: options.argv[0]!,
    exit_code: ended.code,
    signal: ended.signal,
    gateway: { url: gateway!.url, started_for_run: gateway!.close !== undefined },
    token: {
      id: run.token.id,
      prefix: run.token.prefix,
      kind: run.token.kind,
      revoked: tally.token_revoked,
    },
    budget: {
      limit_micros: budget.limit_micros,
      spent_micros: budget.spent_micros,
      remaining_micros: budget.remaining_micros,
    },
    ...withoutRevoked(tally),
    started_at: new Date(startedAt).toISOString(),
    ended_at: new Date(endedAt).toISOString(),
    duration_ms: endedAt - startedAt,
  }
}

/** The run in one line, for people (on stderr: the command's own output keeps stdout). */
export function describeRun(run: RunSummary): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  const exit = run.signal ? `ended by ${run.signal} (${run.exit_code})` : `exited ${run.exit_code}`
  const unpriced = run.unpriced_requests ? ` (+ ${plural(run.unpriced_requests, 'unpriced request')})` : ''
  const { limit_micros: limit, remaining_micros: left } = run.budget
  const budget =
    limit === null || left === null
      ? 'no budget limit'
      : `${formatMoney(left)} of ${formatMoney(limit)} left this period`
  return [
    `${basename(run.command)} ${exit} after ${formatDuration(run.duration_ms)}`,
    `${run.agent}: ${plural(run.requests, 'request')}, ${run.blocked} blocked, ${plural(run.errors, 'error')}`,
    `spent ${formatMoney(run.spent_micros)}${unpriced}`,
    budget,
    ...(run.token.revoked ? ['run token revoked'] : []),
  ].join(' · ')
}

/** A running gateway on the store the run can share, or one started for it (with `close`). */
async function gatewayFor(
  ctx: LocalContext,
  port: number,
): Promise<{ url: string; close?: () => Promise<void> }> {
  const dataDir = ctx.config.dirs.dataDir
  const shared = await findSharedGateway(dataDir, ctx.dbPath, localHolders(ctx))
  if (shared) return { url: shared.url }
  const mark = markRunGateway(dataDir)
  try {
    const running = await startGateway({
      control: new LocalGatewayControl(ctx),
      host: '127.0.0.1',
      port,
      dataDir,
      leaseTtlMs: Number(ctx.config.get('gateway.lease_ttl')) * 1000,
      holders: localHolders(ctx),
    })
    mark.started(running.holder)
    return {
      url: running.url,
      close: async () => {
        await running.close()
        mark.remove()
      },
    }
  } catch (error) {
    mark.remove()
    throw error
  }
}

/**
 * The command's environment: ours, with the base URLs and keys the OpenAI and Anthropic SDKs, their CLIs
 * and LangChain read (the older names too, so a stale one cannot send the command around the gateway).
 */
function childEnv(url: string, run: RunIdentity): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.IRON_TOKEN
  const secret = run.token.secret
  return {
    ...env,
    OPENAI_BASE_URL: `${url}/v1`,
    OPENAI_API_BASE: `${url}/v1`,
    OPENAI_API_KEY: secret,
    ANTHROPIC_BASE_URL: url,
    ANTHROPIC_API_URL: url,
    ANTHROPIC_API_KEY: secret,
    ANTHROPIC_AUTH_TOKEN: secret,
  }
}

/**
 * Run the command to its end. SIGTERM and SIGHUP are passed on; SIGINT too unless the command gets it from
 * the terminal itself (it is in the terminal's foreground group: sending it again would be a second
 * Ctrl-C). Meanwhile iron waits, whatever it is sent, so it can count and clean up after the command.
 */
function runChild(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { stdin: 'inherit' | 'ignore'; forwardInterrupts: boolean },
): Promise<{ code: number; signal: string | null }> {
  const [program, ...args] = argv as [string, ...string[]]
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio: [options.stdin, 'inherit', 'inherit'] })
    const pass = (signal: NodeJS.Signals) => () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    }
    const handlers: Array<[NodeJS.Signals, () => void]> = [
      ['SIGINT', options.forwardInterrupts ? pass('SIGINT') : () => {}],
      ['SIGTERM', pass('SIGTERM')],
      ['SIGHUP', pass('SIGHUP')],
    ]
    for (const [signal, handler] of handlers) process.on(signal, handler)
    const done = () => {
      for (const [signal, handler] of handlers) process.off(signal, handler)
    }
    child.once('error', (error: NodeJS.ErrnoException) => {
      done()
      reject(cannotRun(program, error))
    })
    child.once('exit', (code, signal) => {
      done()
      // As a shell reports it: a command ended by a signal exits 128 + its number.
      resolve({ code: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 1), signal })
    })
  })
}

function cannotRun(program: string, error: NodeJS.ErrnoException): IronError {
  const missing = error.code === 'ENOENT'
  return new IronError(
    missing ? 'COMMAND_NOT_FOUND' : 'COMMAND_NOT_RUNNABLE',
    missing ? `No command '${program}' (not found on PATH)` : `Cannot run '${program}': ${error.message}`,
    {
      hint: 'Put the command after --, as you would type it: iron run --agent NAME -- python agent.py',
      // The shell's codes, which scripts already test for: 127 not found, 126 not runnable.
      exitCode: (missing ? 127 : 126) as number as IronError['exitCode'],
    },
  )
}

/** Attached to a terminal: Ctrl-C there goes to the whole foreground group, the command included. */
const inTerminal = () => Boolean(process.stdin.isTTY || process.stdout.isTTY || process.stderr.isTTY)

/** The agent's own token, piped in (never a flag value, which would stay in shell history and `ps`). */
async function tokenFromStdin(): Promise<string> {
  const token = (await readStdin()).trim()
  if (!token)
    throw usageError(
      'TOKEN_EMPTY',
      'Nothing came in on stdin',
      'Pipe the token in, e.g. pass show iron/support-bot | iron run --token-stdin -- python agent.py',
    )
  return token
}

function withoutRevoked(tally: RunTally & { token_revoked: boolean }): RunTally {
  const { token_revoked: _, ...rest } = tally
  return rest
}
