// A temporary iron store ready for the gateway benchmarks: a provider pointing at the mock, an agent with a
// budget no run can exhaust, and its IC token. Built with the compiled services (npm run build first).
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { IronConfig } from '../../dist/src/config/config.js'
import { LocalContext } from '../../dist/src/services/context.js'
import { createLocalControlPlane } from '../../dist/src/services/local/index.js'
import { AuditRepo } from '../../dist/src/store/audit.js'

/**
 * A home of its own for iron under a new temporary directory: the environment that points iron at it (a
 * file vault, no keyring), and iron's config and data directories there.
 * @param {string} prefix
 * @returns {{ root: string, env: Record<string, string | undefined>, dirs: { configDir: string, dataDir: string } }}
 */
export function tempIronHome(prefix) {
  const root = mkdtempSync(join(tmpdir(), prefix))
  const env = {
    ...process.env,
    HOME: root,
    XDG_CONFIG_HOME: join(root, 'config'),
    XDG_DATA_HOME: join(root, 'data'),
    IRON_CREDENTIAL_STORE: 'file',
  }
  return { root, env, dirs: { configDir: join(root, 'config', 'iron'), dataDir: join(root, 'data', 'iron') } }
}

/**
 * @param {string} upstream The mock provider's URL.
 * @returns {Promise<{ env: Record<string, string>, token: string, dirs: { configDir: string, dataDir: string } }>}
 */
export async function prepareIronStore(upstream) {
  const { env, dirs } = tempIronHome('iron-bench-gw-')
  env.IRON_MASTER_KEY = randomBytes(32).toString('base64url')
  const ctx = new LocalContext({ config: await IronConfig.load(dirs, env), env })
  const cp = createLocalControlPlane(ctx)
  await cp.providers.add({
    name: 'up',
    kind: 'openai',
    base_url: `${upstream}/v1`,
    api_key: 'sk-mock-provider-key',
  })
  await cp.agents.create({ name: 'bench' })
  await cp.budgets.set('bench', { limit_micros: 1_000_000 * 1_000_000 })
  const { token } = await cp.tokens.issue('bench')
  ctx.close()
  return { env, token, dirs }
}

/**
 * Append `count` chained `gateway.request` events of `agentId` to the store's audit trail, as a gateway
 * would have written them, in transactions of 10,000 (what the audit export and `iron serve` benchmarks read).
 * @param {import('better-sqlite3').Database} db
 * @param {number} count
 * @param {string} agentId
 */
export function seedAuditEvents(db, count, agentId) {
  const repo = new AuditRepo(db)
  const write = db.transaction((from, to) => {
    for (let i = from; i < to; i++) {
      repo.append({
        actor: `agent:${agentId}`,
        action: 'gateway.request',
        resource_type: 'request',
        resource_id: `req_${String(i).padStart(26, '0')}`,
        agent_id: agentId,
        outcome: 'success',
        at: 1_790_000_000_000 + i,
        data: {
          api: 'openai-chat',
          model: 'gpt-4o-mini',
          provider: 'openai',
          status: 200,
          input_tokens: 120 + (i % 50),
          output_tokens: 40 + (i % 30),
          cost_micros: 42 + (i % 17),
          latency_ms: 312.5,
          prompt_sha256: 'a'.repeat(64),
          response_sha256: 'b'.repeat(64),
        },
      })
    }
  })
  for (let i = 0; i < count; i += 10_000) write.immediate(i, Math.min(i + 10_000, count))
}
