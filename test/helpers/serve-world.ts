import { expect } from 'vitest'
import type { AnyRoute } from '../../src/server/route.js'
import type { UserRole } from '../../src/services/api.js'
import { type Answer, PASSWORD, tempServer } from './serve.js'

/**
 * A team on a real `iron serve`: root (admin), alice (user, owns alice-bot with a token, a budget an admin
 * granted, a pending budget request, an API token), bob (another user), vera (a viewer who owns vera-bot),
 * and the credentials the authorization matrix tries: none, expired, revoked, a suspended user's, and an
 * admin's API token narrowed to viewer. SAMPLES gives each route one request that its owner may make.
 */

export interface Person {
  name: string
  token: string
  user_id: string
}

export type World = Awaited<ReturnType<typeof serveWorld>>

let ipCounter = 0
/** Each sign-in from an address of its own, so the login limits (10 a minute per address) stay out of the way. */
const nextIp = () => `192.0.2.${(ipCounter++ % 250) + 1}`

export async function serveWorld(options: Parameters<typeof tempServer>[0] = {}) {
  const t = await tempServer(options)
  const person = async (name: string, role: UserRole, at = t.clock.now): Promise<Person> => {
    // As `iron users create` does: on the store, with its rights.
    const user = await t.cp.users.create({ name, role, password: PASSWORD })
    const saved = t.clock.now
    t.clock.now = at
    const login = await t.cp.auth.login({ name, password: PASSWORD, ip: nextIp() })
    t.clock.now = saved
    return { name, token: login.token, user_id: user.id }
  }
  const root = await person('root', 'admin')
  const alice = await person('alice', 'user')
  const bob = await person('bob', 'user')
  const vera = await person('vera', 'viewer')

  const as = async <T = unknown>(who: Person, method: string, path: string, body?: unknown): Promise<T> => {
    const answer = await t.call<T>(method, path, { token: who.token, body })
    if (answer.status >= 300)
      throw new Error(`${method} ${path} as ${who.name}: ${answer.status} ${answer.text}`)
    return answer.body
  }

  await as(root, 'POST', '/api/v1/providers', { name: 'mock', kind: 'mock' })
  const agent = await as<{ id: string; name: string }>(alice, 'POST', '/api/v1/agents', {
    name: 'alice-bot',
    allowed_models: ['gpt-4o-mini'],
  })
  await as(root, 'POST', '/api/v1/agents', { name: 'vera-bot', owner: 'vera' })
  await as(root, 'POST', '/api/v1/agents', { name: 'team-bot' })
  const icToken = await as<{ id: string; token: string; prefix: string }>(
    alice,
    'POST',
    '/api/v1/agents/alice-bot/tokens',
    {},
  )
  await as(root, 'PUT', '/api/v1/agents/alice-bot/budget', { limit_micros: 5_000_000 })
  const request = await as<{ id: string }>(alice, 'POST', '/api/v1/budget-requests', {
    agent: 'alice-bot',
    limit_micros: 9_000_000,
    reason: 'a bigger batch this month',
  })
  const aliceEvents = await t.call<{ data: Array<{ seq: number; action: string }> }>(
    'GET',
    '/api/v1/audit?agent=alice-bot&limit=500',
    { token: root.token },
  )
  const aliceSeq = aliceEvents.body.data.find((e) => e.action === 'agent.create')!.seq

  // Credentials that must get nowhere.
  const expired = await person('ex', 'admin', t.clock.now - 13 * 3_600_000)
  const revoked = await person('rev', 'admin')
  expect((await t.call('POST', '/api/v1/auth/logout', { token: revoked.token })).status).toBe(204)
  const suspended = await person('sus', 'admin')
  const apiToken = async (user: Person, role: UserRole, name: string) => {
    const issued = await t.cp.apiTokens.create({ name, user: user.name, role })
    return { id: issued.id, secret: issued.token }
  }
  // A suspended user's sessions end with the suspension; their API token is what still knocks.
  const suspendedToken = await apiToken(suspended, 'admin', 'automation')
  await t.cp.users.suspend('sus')
  const rootViewerToken = await apiToken(root, 'viewer', 'dashboards')
  const bobViewerToken = await apiToken(bob, 'viewer', 'dashboards')
  const aliceApiToken = await apiToken(alice, 'user', 'ci')

  let n = 0
  const unique = (prefix: string) => `${prefix}-${++n}`

  return {
    ...t,
    as,
    root,
    alice,
    bob,
    vera,
    agent,
    icToken,
    request,
    aliceSeq,
    aliceApiToken,
    unique,
    /** The credentials of the matrix, by who they are. */
    credentials: {
      none: undefined,
      expired: expired.token,
      revoked: revoked.token,
      suspended: suspendedToken.secret,
      other_user: bob.token,
      viewer: vera.token,
      api_token: bobViewerToken.secret,
    } as Record<string, string | undefined>,
    /** An admin's API token narrowed to viewer: it acts as a viewer, never as the admin. */
    rootViewerToken: rootViewerToken.secret,
    /** What must not show in an answer to anyone but alice and the admins. */
    aliceMarks: () => [
      agent.id,
      icToken.id,
      icToken.prefix,
      request.id,
      aliceApiToken.id,
      alice.user_id,
      'alice-bot',
    ],
  }
}

/** One request a route's owner may make. */
export interface Sample {
  /** The path with its parameters filled in, and a query string if any. */
  path: string
  body?: unknown
  /** Who makes it in the happy path (`agent`: a gateway, with `token`, an IC token of alice's agent). */
  as: 'root' | 'alice' | 'none' | 'agent'
  /** The IC token of a lease protocol call (`as: 'agent'`). */
  token?: string
  /**
   * Whose thing it is: `alice` (others get 404, or 403 below the route's role), `self` (each caller's own:
   * lists, creations, whoami; others get their own and nothing of alice's), `shared` (the team's: prices,
   * providers, the safety policy; read by role).
   */
  owner: 'alice' | 'self' | 'shared'
  /** Runs after every other sample (it ends something the others need). */
  last?: boolean
}

export type SampleOf = (w: World) => Promise<Sample> | Sample

const freshAgent = async (w: World) => {
  const name = w.unique('alice-tmp')
  await w.as(w.alice, 'POST', '/api/v1/agents', { name })
  return name
}

/** A user without a password (no scrypt: quick), for the routes that change or end one. */
const freshUser = async (w: World) =>
  (await w.cp.users.create({ name: w.unique('person'), role: 'user' })).name

/** A lease of alice-bot, as a team gateway shakes hands for one (each sample its own gateway). */
const leaseOfAliceBot = async (w: World) => {
  const answer = await w.call<{ lease_id: string }>('POST', '/api/v1/budget/handshake', {
    token: w.icToken.token,
    body: { protocol: 1, runtime_id: w.unique('gw:sample'), runtime_version: '0.0.0-test' },
  })
  if (answer.status !== 200) throw new Error(`handshake: ${answer.status} ${answer.text}`)
  return answer.body.lease_id
}

/** One request per route, keyed `METHOD path` as in the route table. */
export const SAMPLES: Record<string, SampleOf> = {
  'GET /api/health': () => ({ path: '/api/health', as: 'none', owner: 'shared' }),
  'GET /api/v1/openapi.json': () => ({ path: '/api/v1/openapi.json', as: 'none', owner: 'shared' }),
  'GET /metrics': () => ({ path: '/metrics', as: 'root', owner: 'shared' }),
  'GET /api/v1/events': () => ({ path: '/api/v1/events', as: 'alice', owner: 'self' }),
  'POST /api/v1/auth/login': () => ({
    path: '/api/v1/auth/login',
    body: { name: 'alice', password: PASSWORD },
    as: 'none',
    owner: 'shared',
  }),
  'POST /api/v1/auth/logout': () => ({ path: '/api/v1/auth/logout', as: 'alice', owner: 'self', last: true }),

  'GET /api/v1/auth/me': () => ({ path: '/api/v1/auth/me', as: 'alice', owner: 'self' }),
  'GET /api/v1/users': () => ({ path: '/api/v1/users?include_deleted=true', as: 'root', owner: 'shared' }),
  'POST /api/v1/users': (w) => ({
    path: '/api/v1/users',
    body: { name: w.unique('new'), role: 'viewer', display_name: 'New Person', password: PASSWORD },
    as: 'root',
    owner: 'shared',
  }),
  'GET /api/v1/users/{ref}': () => ({ path: '/api/v1/users/alice', as: 'alice', owner: 'alice' }),
  'PATCH /api/v1/users/{ref}': async (w) => ({
    path: `/api/v1/users/${await freshUser(w)}`,
    body: { display_name: 'Renamed', email: 'someone@example.com' },
    as: 'root',
    owner: 'shared',
  }),
  'DELETE /api/v1/users/{ref}': async (w) => ({
    path: `/api/v1/users/${await freshUser(w)}`,
    as: 'root',
    owner: 'shared',
  }),
  'POST /api/v1/users/{ref}/suspend': async (w) => ({
    path: `/api/v1/users/${await freshUser(w)}/suspend`,
    as: 'root',
    owner: 'shared',
  }),
  'POST /api/v1/users/{ref}/activate': async (w) => {
    const name = await freshUser(w)
    await w.cp.users.suspend(name)
    return { path: `/api/v1/users/${name}/activate`, as: 'root', owner: 'shared' }
  },
  'POST /api/v1/users/{ref}/reset-password': async (w) => ({
    path: `/api/v1/users/${await freshUser(w)}/reset-password`,
    body: { password: 'another long passphrase' },
    as: 'root',
    owner: 'shared',
  }),
  'GET /api/v1/api-tokens': () => ({
    path: '/api/v1/api-tokens?include_revoked=true',
    as: 'alice',
    owner: 'self',
  }),
  'POST /api/v1/api-tokens': (w) => ({
    path: '/api/v1/api-tokens',
    body: { name: w.unique('token'), role: 'viewer', expires_in_ms: 86_400_000 },
    as: 'alice',
    owner: 'self',
  }),
  'GET /api/v1/api-tokens/{id}': (w) => ({
    path: `/api/v1/api-tokens/${w.aliceApiToken.id}`,
    as: 'alice',
    owner: 'alice',
  }),
  'POST /api/v1/api-tokens/{id}/revoke': async (w) => {
    const made = await w.as<{ id: string }>(w.alice, 'POST', '/api/v1/api-tokens', {
      name: w.unique('doomed'),
    })
    return { path: `/api/v1/api-tokens/${made.id}/revoke`, as: 'alice', owner: 'alice' }
  },

  'GET /api/v1/agents': () => ({ path: '/api/v1/agents?include_deleted=true', as: 'alice', owner: 'self' }),
  'POST /api/v1/agents': (w) => ({
    path: '/api/v1/agents',
    body: { name: w.unique('made'), description: 'made by a test' },
    as: 'alice',
    owner: 'self',
  }),
  'GET /api/v1/agents/{ref}': () => ({ path: '/api/v1/agents/alice-bot', as: 'alice', owner: 'alice' }),
  'PATCH /api/v1/agents/{ref}': () => ({
    path: '/api/v1/agents/alice-bot',
    body: { description: 'patched' },
    as: 'alice',
    owner: 'alice',
  }),
  'DELETE /api/v1/agents/{ref}': async (w) => ({
    path: `/api/v1/agents/${await freshAgent(w)}?force=true`,
    as: 'alice',
    owner: 'alice',
  }),
  'POST /api/v1/agents/{ref}/tokens': async (w) => ({
    path: `/api/v1/agents/${await freshAgent(w)}/tokens`,
    body: { expires_in_ms: 3_600_000 },
    as: 'alice',
    owner: 'alice',
  }),
  'GET /api/v1/tokens': () => ({ path: '/api/v1/tokens?include_revoked=true', as: 'alice', owner: 'self' }),
  'GET /api/v1/tokens/{ref}': (w) => ({
    path: `/api/v1/tokens/${w.icToken.id}`,
    as: 'alice',
    owner: 'alice',
  }),
  'POST /api/v1/tokens/{ref}/rotate': async (w) => {
    const name = await freshAgent(w)
    await w.as(w.alice, 'POST', `/api/v1/agents/${name}/tokens`, {})
    return { path: `/api/v1/tokens/${name}/rotate`, body: {}, as: 'alice', owner: 'alice' }
  },
  'POST /api/v1/tokens/{ref}/revoke': async (w) => {
    const name = await freshAgent(w)
    const issued = await w.as<{ id: string }>(w.alice, 'POST', `/api/v1/agents/${name}/tokens`, {})
    return { path: `/api/v1/tokens/${issued.id}/revoke`, as: 'alice', owner: 'alice' }
  },

  'GET /api/v1/providers': () => ({ path: '/api/v1/providers', as: 'alice', owner: 'shared' }),
  'POST /api/v1/providers': (w) => ({
    path: '/api/v1/providers',
    body: { name: w.unique('prov'), kind: 'mock', description: 'another' },
    as: 'root',
    owner: 'shared',
  }),
  'GET /api/v1/providers/{ref}': () => ({ path: '/api/v1/providers/mock', as: 'alice', owner: 'shared' }),
  'PATCH /api/v1/providers/{ref}': () => ({
    path: '/api/v1/providers/mock',
    body: { description: 'the built-in mock' },
    as: 'root',
    owner: 'shared',
  }),
  'DELETE /api/v1/providers/{ref}': async (w) => {
    const name = w.unique('prov')
    await w.as(w.root, 'POST', '/api/v1/providers', { name, kind: 'mock' })
    return { path: `/api/v1/providers/${name}`, as: 'root', owner: 'shared' }
  },
  'POST /api/v1/providers/{ref}/test': () => ({
    path: '/api/v1/providers/mock/test',
    as: 'root',
    owner: 'shared',
  }),

  'GET /api/v1/budgets': () => ({ path: '/api/v1/budgets', as: 'alice', owner: 'self' }),
  'GET /api/v1/agents/{ref}/budget': () => ({
    path: '/api/v1/agents/alice-bot/budget',
    as: 'alice',
    owner: 'alice',
  }),
  'PUT /api/v1/agents/{ref}/budget': () => ({
    path: '/api/v1/agents/alice-bot/budget',
    body: { limit_micros: 4_000_000 },
    as: 'alice',
    owner: 'alice',
  }),
  'GET /api/v1/agents/{ref}/budget/check': () => ({
    path: '/api/v1/agents/alice-bot/budget/check?verify=true',
    as: 'alice',
    owner: 'alice',
  }),
  'GET /api/v1/agents/{ref}/budget/history': () => ({
    path: '/api/v1/agents/alice-bot/budget/history?limit=10&since=2026-01-01',
    as: 'alice',
    owner: 'alice',
  }),
  'POST /api/v1/agents/{ref}/budget/adjust': () => ({
    path: '/api/v1/agents/alice-bot/budget/adjust',
    body: { amount_micros: 1_000, reason: 'a refund for a failed batch' },
    as: 'root',
    owner: 'alice',
  }),

  'GET /api/v1/budget-requests': () => ({ path: '/api/v1/budget-requests', as: 'alice', owner: 'self' }),
  'POST /api/v1/budget-requests': async (w) => ({
    path: '/api/v1/budget-requests',
    body: { agent: await freshAgent(w), limit_micros: 2_000_000, reason: 'a pilot' },
    as: 'alice',
    owner: 'alice',
  }),
  'GET /api/v1/budget-requests/{id}': (w) => ({
    path: `/api/v1/budget-requests/${w.request.id}`,
    as: 'alice',
    owner: 'alice',
  }),
  ...Object.fromEntries(
    (['approve', 'reject', 'cancel'] as const).map((decision) => [
      `POST /api/v1/budget-requests/{id}/${decision}`,
      async (w: World): Promise<Sample> => {
        const agent = await freshAgent(w)
        const made = await w.as<{ id: string }>(w.alice, 'POST', '/api/v1/budget-requests', {
          agent,
          limit_micros: 1_000_000,
          reason: 'a pilot',
        })
        return {
          path: `/api/v1/budget-requests/${made.id}/${decision}`,
          body: decision === 'cancel' ? undefined : { note: 'ok' },
          as: decision === 'cancel' ? 'alice' : 'root',
          owner: 'alice',
        }
      },
    ]),
  ),

  'POST /api/v1/budget/handshake': (w) => ({
    path: '/api/v1/budget/handshake',
    body: {
      protocol: 1,
      runtime_id: w.unique('gw:sample'),
      runtime_version: '0.0.0-test',
      host: 'sample-host',
    },
    as: 'agent',
    token: w.icToken.token,
    owner: 'alice',
  }),
  'POST /api/v1/budget/report': async (w) => ({
    path: '/api/v1/budget/report',
    body: { protocol: 1, lease_id: await leaseOfAliceBot(w), events: [] },
    as: 'agent',
    token: w.icToken.token,
    owner: 'alice',
  }),
  'POST /api/v1/budget/refresh': async (w) => ({
    path: '/api/v1/budget/refresh',
    body: { protocol: 1, lease_id: await leaseOfAliceBot(w), min_micros: 1_000 },
    as: 'agent',
    token: w.icToken.token,
    owner: 'alice',
  }),
  'POST /api/v1/budget/return': async (w) => ({
    path: '/api/v1/budget/return',
    body: { protocol: 1, lease_id: await leaseOfAliceBot(w), spent_micros: 0 },
    as: 'agent',
    token: w.icToken.token,
    owner: 'alice',
  }),

  'GET /api/v1/pricing': () => ({ path: '/api/v1/pricing?provider=openai', as: 'alice', owner: 'shared' }),
  'GET /api/v1/pricing/{model}': () => ({ path: '/api/v1/pricing/gpt-4o', as: 'alice', owner: 'shared' }),
  'PUT /api/v1/pricing/{model}': () => ({
    path: '/api/v1/pricing/gpt-4o',
    body: { input_micros_per_mtok: 2_000_000 },
    as: 'root',
    owner: 'shared',
  }),
  'DELETE /api/v1/pricing/{model}': async (w) => {
    await w.as(w.root, 'PUT', '/api/v1/pricing/gpt-4.1', { output_micros_per_mtok: 9_000_000 })
    return { path: '/api/v1/pricing/gpt-4.1', as: 'root', owner: 'shared' }
  },
  'GET /api/v1/usage': () => ({
    path: '/api/v1/usage?by=agent&since=2026-01-01',
    as: 'alice',
    owner: 'self',
  }),

  'GET /api/v1/audit': () => ({ path: '/api/v1/audit?limit=5', as: 'alice', owner: 'self' }),
  'GET /api/v1/audit/count': () => ({ path: '/api/v1/audit/count', as: 'alice', owner: 'self' }),
  'GET /api/v1/audit/{ref}': (w) => ({ path: `/api/v1/audit/${w.aliceSeq}`, as: 'alice', owner: 'alice' }),
  'GET /api/v1/audit/export': () => ({
    path: '/api/v1/audit/export?format=jsonl',
    as: 'alice',
    owner: 'self',
  }),
  'POST /api/v1/audit/verify': () => ({
    path: '/api/v1/audit/verify',
    body: {},
    as: 'root',
    owner: 'shared',
  }),
  'POST /api/v1/audit/prune': (w) => ({
    path: '/api/v1/audit/prune',
    body: { before: new Date(w.clock.now + 1).toISOString() },
    as: 'root',
    owner: 'shared',
    last: true,
  }),

  'GET /api/v1/safety/policy': () => ({ path: '/api/v1/safety/policy', as: 'alice', owner: 'shared' }),
  'PUT /api/v1/safety/policy': () => ({
    path: '/api/v1/safety/policy',
    body: { change: { injection_threshold: 0.8 } },
    as: 'root',
    owner: 'shared',
  }),
  'POST /api/v1/safety/scan': () => ({
    path: '/api/v1/safety/scan',
    body: { text: 'write to me at someone@example.com', direction: 'input' },
    as: 'alice',
    owner: 'shared',
  }),
}

export const routeId = (route: AnyRoute) => `${route.method} ${route.path}`

/** Make a sample's request as someone (a token, or none). */
export function send(w: World, route: AnyRoute, sample: Sample, token: string | undefined): Promise<Answer> {
  return w.call(route.method, sample.path, { token, body: sample.body })
}
