import type { IronConfig } from '../config/config.js'
import type { Vault } from '../config/vault.js'
import { IronError, usageError } from '../core/errors.js'
import { isWellFormedSecret } from '../core/secrets.js'
import type { User, UserRole, Whoami } from '../services/api.js'
import { forgetLogin, readLogin, type ServerInEffect, storeLogin } from './context.js'
import { normalizeServerUrl, ServerConnection } from './http.js'

export interface LoginInput {
  url: string
  /** With a password: a session (`iron_st_…`), as POST /api/v1/auth/login gives it. */
  name?: string
  password?: string
  /** Or an API token (`iron_at_…`), checked with GET /api/v1/auth/me. */
  token?: string
}

/** What `iron login` says and returns (never the secret). */
export interface LoginView {
  server: string
  user: string
  role: UserRole
  via: 'session' | 'api_token'
  expires_at: string | null
  /** Where the secret is kept: the OS keychain, or the 0600 credentials file. */
  stored_in: string
}

export interface LogoutView {
  server: string
  /** Who was signed in; null when nobody was. */
  user: string | null
  /** Whether the server revoked the session (an API token is revoked with iron api-tokens revoke). */
  session_revoked: boolean
  /** Why the server did not revoke it, when it was a session and it did not. */
  note: string | null
}

interface LoginAnswer {
  token: string
  expires_at: string
  user: User
}

/**
 * Sign in to a server and keep the secret in the vault; the config's `server` then points at it, so the
 * next commands go there. Nothing is stored unless the server accepted the credential.
 */
export async function signIn(
  config: IronConfig,
  vault: Vault,
  input: LoginInput,
  options: { userAgent?: string } = {},
): Promise<LoginView> {
  const url = normalizeServerUrl(input.url)
  const open = new ServerConnection({ url, userAgent: options.userAgent })
  try {
    let view: Omit<LoginView, 'stored_in'>
    let token: string
    if (input.token !== undefined) {
      token = input.token.trim()
      if (!isWellFormedSecret(token, 'at')) {
        throw usageError(
          'INVALID_API_TOKEN',
          'That is not an iron API token (iron_at_ followed by 38 letters and digits, as iron api-tokens create shows it once)',
          'Copy the whole token; a session or an agent’s IC token does not sign in here',
        )
      }
      const me = await open.withToken(token).get<Whoami>('/api/v1/auth/me')
      if (!me.user) throw new IronError('SERVER_ERROR', `${url} did not say whose token this is`)
      view = { server: url, user: me.user.name, role: me.role, via: 'api_token', expires_at: me.expires_at }
    } else {
      const name = input.name?.trim()
      if (!name) throw usageError('NAME_REQUIRED', 'A user name is needed to sign in', 'Pass --name NAME')
      if (!input.password) throw usageError('PASSWORD_REQUIRED', 'A password is needed to sign in')
      const answer = await open.send<LoginAnswer>('POST', '/api/v1/auth/login', {
        name,
        password: input.password,
      })
      if (typeof answer?.token !== 'string' || !answer.user)
        throw new IronError('SERVER_ERROR', `${url} answered the sign-in without a session`)
      token = answer.token
      view = {
        server: url,
        user: answer.user.name,
        role: answer.user.role,
        via: 'session',
        expires_at: answer.expires_at ?? null,
      }
    }
    storeLogin(vault, { server: url, user: view.user, via: view.via, token, expires_at: view.expires_at })
    await config.set('server', url)
    return { ...view, stored_in: vault.location }
  } finally {
    await open.close()
  }
}

/**
 * Sign out: the server revokes the session, and the vault forgets the secret either way (a server that
 * cannot be reached is said in `note`; the session then ends at its expiry). The context stays, so the next
 * command says to sign in rather than silently using the local store.
 */
export async function signOut(
  server: ServerInEffect,
  vault: Vault,
  options: { userAgent?: string } = {},
): Promise<LogoutView> {
  const login = readLogin(vault, server.url)
  if (!login) return { server: server.url, user: null, session_revoked: false, note: null }
  let revoked = false
  let note: string | null = null
  if (login.via === 'session') {
    const connection = new ServerConnection({
      url: server.url,
      token: login.token,
      userAgent: options.userAgent,
    })
    try {
      await connection.send('POST', '/api/v1/auth/logout')
      revoked = true
    } catch (error) {
      const e = error as IronError
      // An expired or revoked session is as good as signed out.
      if (e.exitCode === 4) revoked = true
      else
        note = `The server did not revoke the session (${e.message}); it ends at its expiry${login.expires_at ? ` (${login.expires_at})` : ''}`
    } finally {
      await connection.close()
    }
  }
  forgetLogin(vault, server.url)
  return { server: server.url, user: login.user, session_revoked: revoked, note }
}
