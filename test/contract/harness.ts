import { ServerConnection } from '../../src/client/http.js'
import { HttpControlPlane } from '../../src/client/http-control-plane.js'
import type { Env } from '../../src/config/paths.js'
import { startServer } from '../../src/server/server.js'
import type { UserRole } from '../../src/services/api.js'
import { tempContext } from '../helpers/temp.js'

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
