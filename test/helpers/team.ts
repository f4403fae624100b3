import { MemoryVault } from '../../src/config/vault.js'
import { type RunningGateway, startGateway } from '../../src/gateway/server.js'
import { type RunningServer, startServer } from '../../src/server/server.js'
import { RemoteGatewayControl } from '../../src/services/remote/gateway-control.js'
import { startMockProvider } from '../../src/testing/mock-provider.js'
import { UPSTREAM_KEY } from './gateway.js'
import { tempContext, tempDirs } from './temp.js'

/** Whole micros per token, so that every request's cost is exact and sums compare exactly. */
export const PRICE = { input_micros_per_mtok: 100_000_000, output_micros_per_mtok: 1_000_000_000 }
export const costOf = (input: number, output: number) => input * 100 + output * 1_000

export interface TeamWorldOptions {
  limitMicros?: number | null
  /** The server's environment (IRON_SERVE_LEASE_TTL, …). */
  env?: Record<string, string>
  mock?: Parameters<typeof startMockProvider>[0]
}

/**
 * A real `iron serve` on 127.0.0.1 over a temporary store (real clock), in front of the mock provider:
 * providers `openai` and `claude` with a real key, agent `bot` with a budget and an IC token, exact prices.
 * `stop()` and `start()` take the server down and bring it back on the same port and store.
 */
export async function startTeamWorld(options: TeamWorldOptions = {}) {
  const mock = await startMockProvider(options.mock ?? {})
  const { ctx, dirs } = await tempContext(options.env ?? {}, new MemoryVault())
  let server: RunningServer | undefined = await startServer({
    ctx,
    host: '127.0.0.1',
    port: 0,
    version: '0.0.0-test',
    drainMs: 1_000,
  })
  const url = server.url
  const port = Number(new URL(url).port)
  const cp = server.cp
  await cp.providers.add({
    name: 'openai',
    kind: 'openai',
    base_url: `${mock.url}/v1`,
    api_key: UPSTREAM_KEY,
  })
  await cp.providers.add({ name: 'claude', kind: 'anthropic', base_url: mock.url, api_key: UPSTREAM_KEY })
  await cp.agents.create({ name: 'bot' })
  await cp.budgets.set('bot', {
    limit_micros: options.limitMicros === undefined ? 10_000_000 : options.limitMicros,
  })
  for (const [model, provider] of [
    ['gpt-4o-mini', 'openai'],
    ['claude-haiku-4-5', 'anthropic'],
  ] as const)
    await cp.pricing.set({ model, provider, ...PRICE, max_output_tokens: 8_192 })
  const issued = await cp.tokens.issue('bot')

  /** What the provider billed, at the test's prices. */
  const servedCost = () => {
    let total = 0
    for (const s of Object.values(mock.stats().served)) total += costOf(s.input_tokens, s.output_tokens)
    return total
  }

  return {
    url,
    ctx,
    cp,
    mock,
    dirs,
    token: issued.token,
    tokenId: issued.id,
    servedCost,
    get up() {
      return server !== undefined
    },
    async stop() {
      await server?.close()
      server = undefined
    },
    async start() {
      server ??= await startServer({ ctx, host: '127.0.0.1', port, version: '0.0.0-test', drainMs: 1_000 })
    },
    async close() {
      await server?.close()
      ctx.close()
      await mock.close()
    },
  }
}

export type TeamWorld = Awaited<ReturnType<typeof startTeamWorld>>

/** A team gateway in this process on `server`, with its outbox in `dataDir` (a fresh one by default). */
export async function startTeamGateway(
  server: string,
  dataDir = tempDirs().dataDir,
  options: { leaseTtlMs?: number } = {},
) {
  const lines: string[] = []
  const control = new RemoteGatewayControl({
    server,
    dataDir,
    version: '0.0.0-test',
    log: (line) => lines.push(line),
  })
  const running: RunningGateway = await startGateway({
    control,
    host: '127.0.0.1',
    port: 0,
    dataDir,
    leaseTtlMs: options.leaseTtlMs,
  })
  return { url: running.url, running, control, dataDir, lines, close: () => running.close() }
}
