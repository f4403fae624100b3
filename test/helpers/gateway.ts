import { IronConfig } from '../../src/config/config.js'
import { MemoryVault } from '../../src/config/vault.js'
import { type RunningGateway, startGateway } from '../../src/gateway/server.js'
import { LocalContext } from '../../src/services/context.js'
import { LocalGatewayControl } from '../../src/services/local/gateway-control.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { startMockProvider } from '../../src/testing/mock-provider.js'
import { tempDirs } from './temp.js'

export const UPSTREAM_KEY = 'sk-upstream-real-key-0123456789abcdef'

export interface TestGatewayOptions {
  limitMicros?: number | null
  onInsufficient?: 'reject' | 'clamp'
  rpm?: number
  tpm?: number
  mock?: Parameters<typeof startMockProvider>[0]
  gateway?: Partial<Parameters<typeof startGateway>[0]>
}

/**
 * A real gateway on 127.0.0.1 with a real store, in front of the mock provider (the one edge we cannot
 * reach): providers `openai` (kind openai), `claude` (kind anthropic) and `mock` (built-in), one agent `bot`.
 */
export async function startTestGateway(options: TestGatewayOptions = {}) {
  const mock = await startMockProvider(options.mock ?? {})
  const dirs = tempDirs()
  const vault = new MemoryVault()
  const config = await IronConfig.load(dirs, {})
  const ctx = new LocalContext({ config, env: {}, vault })
  const cp = createLocalControlPlane(ctx)
  await cp.providers.add({
    name: 'openai',
    kind: 'openai',
    base_url: `${mock.url}/v1`,
    api_key: UPSTREAM_KEY,
  })
  await cp.providers.add({ name: 'claude', kind: 'anthropic', base_url: mock.url, api_key: UPSTREAM_KEY })
  await cp.providers.add({ name: 'mock', kind: 'mock' })
  const agent = await cp.agents.create({
    name: 'bot',
    requests_per_minute: options.rpm,
    tokens_per_minute: options.tpm,
  })
  await cp.budgets.set('bot', {
    limit_micros: options.limitMicros === undefined ? 10_000_000 : options.limitMicros,
    on_insufficient: options.onInsufficient ?? 'reject',
  })
  const token = (await cp.tokens.issue('bot')).token
  const gatewayCtx = new LocalContext({ config, env: {}, vault })
  const control = new LocalGatewayControl(gatewayCtx)
  const running: RunningGateway = await startGateway({
    control,
    host: '127.0.0.1',
    port: 0,
    dataDir: dirs.dataDir,
    ...options.gateway,
  })
  return {
    url: running.url,
    running,
    token,
    agent,
    cp,
    ctx,
    mock,
    dirs,
    vault,
    admin: { authorization: `Bearer ${running.admin_token}` },
    /** Once what the gateway answered is in the store (it writes settlements just after their answers). */
    settled: () => control.settled(),
    async close() {
      await running.close()
      gatewayCtx.close()
      ctx.close()
      await mock.close()
    },
  }
}

/** A request's record: the data of its `gateway.request` audit event, with its ids. */
export function requestRecord(
  db: import('../../src/store/db.js').Db,
  id: string,
): Record<string, unknown> | undefined {
  const row = db
    .prepare(
      "SELECT resource_id, agent_id, outcome AS audit_outcome, data FROM audit_events WHERE action = 'gateway.request' AND resource_id = ?",
    )
    .get(id) as
    | { resource_id: string; agent_id: string | null; audit_outcome: string; data: string }
    | undefined
  return (
    row && {
      ...(JSON.parse(row.data) as Record<string, unknown>),
      id: row.resource_id,
      agent_id: row.agent_id,
      audit_outcome: row.audit_outcome,
    }
  )
}

/** Every request record, oldest first. */
export function requestRecords(db: import('../../src/store/db.js').Db): Array<Record<string, unknown>> {
  const ids = db
    .prepare("SELECT resource_id FROM audit_events WHERE action = 'gateway.request' ORDER BY seq")
    .pluck()
    .all() as string[]
  return ids.map((id) => requestRecord(db, id)!)
}

/** Another gateway on the same store as `g` (its own connection, as another process would have). */
export async function startSiblingGateway(
  g: { dirs: ReturnType<typeof tempDirs>; vault: MemoryVault },
  options: Partial<Parameters<typeof startGateway>[0]> = {},
): Promise<{ running: RunningGateway; ctx: LocalContext; close(): Promise<void> }> {
  const ctx = new LocalContext({ config: await IronConfig.load(g.dirs, {}), env: {}, vault: g.vault })
  const running = await startGateway({
    control: new LocalGatewayControl(ctx),
    host: '127.0.0.1',
    port: 0,
    dataDir: g.dirs.dataDir,
    ...options,
  })
  return {
    running,
    ctx,
    async close() {
      await running.close()
      ctx.close()
    },
  }
}
