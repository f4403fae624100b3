import { ServerConnection } from '../../src/client/http.js'
import { HttpControlPlane } from '../../src/client/http-control-plane.js'
import type { Env } from '../../src/config/paths.js'
import { startServer } from '../../src/server/server.js'
import type { UserRole } from '../../src/services/api.js'
import { createLocalControlPlane } from '../../src/services/local/index.js'
import { tempContext } from '../helpers/temp.js'
import type { ContractHarness } from './control-plane.contract.js'

export const PASSWORD = 'contract suite password'

/**
 * A real `iron serve` in this process on 127.0.0.1 (any free port), over a temporary store (or the store
 * `env`'s IRON_DB names) with one admin,
 * and sign-ins for users of any role. Everything the server logs is kept for the test to look at.
 */
export async function startTestServer(env: Env = {}) {
  const { ctx, vault } = await tempContext(env)
  const logged: string[] = []
  const server = await startServer({
    ctx,
    host: '127.0.0.1',
    port: 0,
    version: 'contract',
    log: (line) => logged.push(line),
  })
  /** A user made on the store, as `iron users create` does. */
  const addUser = async (name: string, role: UserRole) => {
    await server.cp.users.create({ name, role, password: PASSWORD })
  }
  /** A session of the user, as POST /api/v1/auth/login gives it. */
  const signIn = async (name: string) =>
    (await server.cp.auth.login({ name, password: PASSWORD, ip: '127.0.0.1', user_agent: 'contract' })).token
  /** Small pages, so every list the suite reads crosses several and the client must follow next_cursor. */
  const clientFor = (token: string) =>
    new HttpControlPlane(new ServerConnection({ url: server.url, token, pageSize: 5 }))
  return {
    server,
    ctx,
    vault,
    logged,
    addUser,
    signIn,
    clientFor,
    async close() {
      await server.close()
      ctx.close()
    },
  }
}

/** The contract's harness on the local services, over a temporary store (or the one `env`'s IRON_DB names). */
export async function localHarness(env: Env = {}): Promise<ContractHarness> {
  const { ctx } = await tempContext(env)
  const cp = createLocalControlPlane(ctx)
  return {
    cp,
    store: cp,
    actor: ctx.actor,
    me: { mode: 'local', server: null, role: 'admin', user: null, via: 'local', expires_at: null },
    close: async () => ctx.close(),
  }
}

/** The contract's harness on the HTTP client, against a real iron serve (on `env`'s store), as its admin. */
export async function httpHarness(env: Env = {}): Promise<ContractHarness> {
  const t = await startTestServer(env)
  await t.addUser('admin', 'admin')
  const cp = t.clientFor(await t.signIn('admin'))
  return {
    cp,
    store: t.server.cp,
    actor: 'user:admin',
    me: { mode: 'server', server: t.server.url, role: 'admin', via: 'session' },
    close: async () => {
      await cp.close()
      await t.close()
      // A route that failed with a bug (500) would be logged; the contract allows none.
      if (t.logged.length) throw new Error(`iron serve logged:\n${t.logged.join('\n')}`)
    },
  }
}
