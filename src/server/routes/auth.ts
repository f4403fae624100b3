import { z } from 'zod'
import { type AnyRoute, route } from '../route.js'
import * as s from '../schemas.js'

/** Signing in and out, and who the caller is. Identity comes from the bearer secret only, never a body. */
export const authRoutes: AnyRoute[] = [
  route({
    method: 'POST',
    path: '/api/v1/auth/login',
    summary:
      'Sign in with a name and password: a session secret (iron_st_…, shown once) and when it expires; limited per address and account, locked after repeated failures',
    tag: 'auth',
    access: 'open',
    body: s.LoginInput,
    response: s.LoginResult,
    mutates: true,
    handler: ({ cp, body, req, client }) => {
      const agent = req.headers['user-agent']
      return cp.auth.login({
        name: body.name,
        password: body.password,
        ip: client,
        ...(typeof agent === 'string' ? { user_agent: agent } : {}),
      })
    },
  }),
  route({
    method: 'POST',
    path: '/api/v1/auth/logout',
    summary: 'End the session this request is signed in with (an API token is revoked by its ID instead)',
    tag: 'auth',
    access: 'viewer',
    body: s.Empty,
    response: z.undefined(),
    status: 204,
    mutates: true,
    handler: async ({ cp, principal }) => {
      await cp.auth.logout(principal!)
    },
  }),
]
