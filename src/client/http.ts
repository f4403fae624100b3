import { Agent, type Dispatcher, errors as undiciErrors } from 'undici'
import { ExitCode, IronError } from '../core/errors.js'

/** A query string's values; undefined and false are left out, times are sent as ISO-8601 by the caller. */
export type Query = Record<string, string | number | boolean | undefined | null>

export interface ServerOptions {
  /** The server's base URL as the user gave it (`https://iron.example.com`, maybe with a path). */
  url: string
  /** An `iron_st_` session or `iron_at_` API token; never logged, never put in an error. */
  token?: string
  /** Until a response's headers arrive (default 30 s); a stream's body may then take as long as it needs. */
  timeoutMs?: number
  userAgent?: string
  /** Items asked per page of a list (default: the most a server gives, MAX_LIMIT). */
  pageSize?: number
  /** Where to send the requests (tests); default: a keep-alive agent of this client's own. */
  dispatcher?: Dispatcher
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

interface CallOptions {
  query?: Query
  body?: unknown
  /** Longer than the default, for calls that do real work on the server (provider test, audit verify). */
  timeoutMs?: number
  signal?: AbortSignal
}

/** The wire shape of a list (SPEC §9). */
interface ListPage<T> {
  data: T[]
  next_cursor: string | null
}

/** The most a list route gives per page, so the client asks for it and follows `next_cursor`. */
export const MAX_LIMIT = 500
/** A server that keeps handing out cursors is not followed forever. */
const MAX_PAGES = 100_000

/**
 * One `iron serve` over HTTP: JSON in and out, the bearer on every call, server errors rebuilt as the
 * IronError the service threw there (same code, message, hint and exit code), and transport failures said
 * as what they are: the server cannot be reached, or did not answer in time.
 */
export class ServerConnection {
  readonly url: string
  readonly #base: URL
  readonly #token: string | undefined
  readonly #timeoutMs: number
  readonly #userAgent: string
  readonly #pageSize: number
  readonly #dispatcher: Dispatcher
  readonly #own: boolean

  constructor(options: ServerOptions) {
    this.url = normalizeServerUrl(options.url)
    this.#base = new URL(`${this.url}/`)
    this.#token = options.token
    this.#timeoutMs = options.timeoutMs ?? 30_000
    this.#userAgent = options.userAgent ?? 'iron-cli'
    this.#pageSize = options.pageSize ?? MAX_LIMIT
    this.#own = options.dispatcher === undefined
    this.#dispatcher =
      options.dispatcher ??
      new Agent({ connect: { timeout: 10_000 }, keepAliveTimeout: 10_000, headersTimeout: this.#timeoutMs })
  }

  get hasToken(): boolean {
    return this.#token !== undefined
  }

  /** The same server with another credential (login checks a token before it is stored). */
  withToken(token: string): ServerConnection {
    return new ServerConnection({
      url: this.url,
      token,
      timeoutMs: this.#timeoutMs,
      userAgent: this.#userAgent,
      pageSize: this.#pageSize,
      dispatcher: this.#dispatcher,
    })
  }

  async get<T>(path: string, query?: Query, options: Omit<CallOptions, 'query' | 'body'> = {}): Promise<T> {
    return this.call<T>('GET', path, { ...options, query })
  }

  async send<T>(
    method: Method,
    path: string,
    body?: unknown,
    options: Omit<CallOptions, 'body'> = {},
  ): Promise<T> {
    return this.call<T>(method, path, { ...options, body: body ?? (method === 'DELETE' ? undefined : {}) })
  }

  /**
   * Every page of a list, in order: the same array the local service returns. Pages are as large as the
   * server gives, unless the route's `limit` means something else (how many in all, for the ledger's history).
   */
  async list<T>(path: string, query: Query = {}): Promise<T[]> {
    const all: T[] = []
    let cursor: string | null = null
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const page: ListPage<T> | T[] = await this.get<ListPage<T> | T[]>(path, {
        ...query,
        limit: query.limit ?? this.#pageSize,
        cursor: cursor ?? undefined,
      })
      if (Array.isArray(page)) return page
      const { data, next_cursor }: ListPage<T> = checkPage<T>(page, this.#describe(path))
      all.push(...data)
      if (next_cursor === null || next_cursor === cursor || data.length === 0) return all
      cursor = next_cursor
    }
    return all
  }

  /**
   * The first `total` items of a list from `cursor` on, in pages of at most the page size, and the cursor
   * after the last one given (null at the end): a local service's `limit` over a server's pages.
   */
  async take<T>(
    path: string,
    query: Query,
    total: number,
    cursor?: string,
  ): Promise<{ data: T[]; next_cursor: string | null }> {
    const data: T[] = []
    let next: string | null = cursor ?? null
    for (let pages = 0; pages < MAX_PAGES && data.length < total; pages++) {
      const page: ListPage<T> = checkPage<T>(
        await this.get(path, {
          ...query,
          limit: Math.min(total - data.length, this.#pageSize),
          cursor: next ?? undefined,
        }),
        this.#describe(path),
      )
      data.push(...page.data.slice(0, total - data.length))
      if (page.next_cursor === null || page.next_cursor === next || page.data.length === 0)
        return { data, next_cursor: null }
      next = page.next_cursor
    }
    return { data, next_cursor: next }
  }

  /** A streamed body, line by line as it arrives (JSON Lines exports), without holding it all. */
  async *lines(path: string, query: Query = {}, signal?: AbortSignal): AsyncGenerator<string> {
    const { body } = await this.#request('GET', path, { query, signal }, 'application/x-ndjson')
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        let end = buffer.indexOf('\n')
        while (end !== -1) {
          const line = buffer.slice(0, end).trim()
          buffer = buffer.slice(end + 1)
          if (line) yield line
          end = buffer.indexOf('\n')
        }
      }
    } catch (error) {
      throw this.#transportError(error)
    } finally {
      // A consumer that stops early (a failed write, Ctrl-C) ends the download instead of leaving it open.
      body.destroy()
    }
    buffer += decoder.decode()
    if (buffer.trim()) yield buffer.trim()
  }

  /** A server-sent event stream, opened (status checked); the caller reads the body. */
  async events(path: string, query: Query, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    const { body } = await this.#request('GET', path, { query, signal }, 'text/event-stream')
    return body as AsyncIterable<Uint8Array>
  }

  async call<T>(method: Method, path: string, options: CallOptions = {}): Promise<T> {
    const { body, headers } = await this.#request(method, path, options, 'application/json')
    let text: string
    try {
      text = await body.text()
    } catch (error) {
      throw this.#transportError(error)
    }
    if (text === '') return undefined as T
    if (!String(headers['content-type'] ?? '').includes('json')) {
      // Health and metrics are not JSON; a JSON route answering something else is a proxy in the way.
      if (path.startsWith('/api/v1/')) throw this.#notIron(200, text)
      return text as T
    }
    try {
      return JSON.parse(text) as T
    } catch {
      throw this.#notIron(200, text)
    }
  }

  async close(): Promise<void> {
    if (this.#own) await this.#dispatcher.close().catch(() => {})
  }

  async #request(
    method: Method,
    path: string,
    options: CallOptions,
    accept: string,
  ): Promise<Dispatcher.ResponseData> {
    const url = this.#urlOf(path, options.query)
    const headers: Record<string, string> = { accept, 'user-agent': this.#userAgent }
    if (this.#token) headers.authorization = `Bearer ${this.#token}`
    let payload: string | undefined
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json'
      payload = JSON.stringify(options.body)
    }
    let response: Dispatcher.ResponseData
    try {
      response = await this.#dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        body: payload,
        signal: options.signal,
        headersTimeout: options.timeoutMs ?? this.#timeoutMs,
        // A stream (export, events) may be quiet for long stretches; a JSON answer may not.
        bodyTimeout: accept === 'application/json' ? (options.timeoutMs ?? this.#timeoutMs) : 0,
      })
    } catch (error) {
      throw this.#transportError(error)
    }
    if (response.statusCode >= 400) {
      const text = await response.body.text().catch(() => '')
      throw this.#errorOf(response.statusCode, text, response.headers)
    }
    return response
  }

  #urlOf(path: string, query: Query = {}): URL {
    const url = new URL(path.replace(/^\//, ''), this.#base)
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined || value === null || value === false) continue
      url.searchParams.set(key, String(value))
    }
    return url
  }

  #describe(path: string): string {
    return `${this.url}${path}`
  }

  /** An error answer: the server's IronError rebuilt, or what a non-iron answer says. */
  #errorOf(status: number, text: string, headers: Record<string, string | string[] | undefined>): IronError {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {}
    const error = (parsed as { error?: WireError } | undefined)?.error
    if (!error || typeof error.code !== 'string' || typeof error.message !== 'string')
      return this.#notIron(status, text)
    const exitCode = isExitCode(error.exit_code) ? error.exit_code : exitCodeOfStatus(status)
    const details: Record<string, unknown> = { ...(isObject(error.details) ? error.details : {}) }
    if (error.fields !== undefined) details.fields = error.fields
    let hint = typeof error.hint === 'string' ? error.hint : undefined
    if (status === 401 && !hint) hint = `Sign in again: iron login ${this.url}`
    if (status === 429 && !hint && headers['retry-after']) hint = `Try again in ${headers['retry-after']} s`
    return new ServerError(error.code, error.message, {
      hint,
      exitCode,
      details: Object.keys(details).length ? details : undefined,
      requestId: typeof error.request_id === 'string' ? error.request_id : headerOf(headers, 'x-request-id'),
    })
  }

  #notIron(status: number, text: string): IronError {
    const sample = text.replace(/\s+/g, ' ').trim().slice(0, 120)
    return new IronError(
      'SERVER_ERROR',
      `The server at ${this.url} answered ${status === 200 ? 'something that is not iron' : `HTTP ${status}`}${sample ? `: ${sample}` : ''}`,
      {
        hint: `Check that ${this.url} is an iron serve (its health: ${this.url}/api/health), not a proxy or another service`,
        exitCode: status === 404 ? ExitCode.notFound : ExitCode.failure,
      },
    )
  }

  #transportError(error: unknown): IronError {
    if (error instanceof IronError) return error
    const err = error as Error & { code?: string; cause?: { code?: string; message?: string } }
    const code = err.code ?? err.cause?.code ?? ''
    if (err.name === 'AbortError' || code === 'ABORT_ERR')
      return new IronError('INTERRUPTED', 'Interrupted', { exitCode: ExitCode.interrupted })
    if (
      error instanceof undiciErrors.HeadersTimeoutError ||
      error instanceof undiciErrors.BodyTimeoutError ||
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT'
    ) {
      return new IronError(
        'SERVER_TIMEOUT',
        `The iron server at ${this.url} did not answer within ${Math.round(this.#timeoutMs / 1000)}s`,
        { hint: 'It may be overloaded or stuck; check the server (iron serve) and try again' },
      )
    }
    if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
      return new IronError(
        'SERVER_TLS',
        `Cannot trust the TLS certificate of ${this.url}: ${err.cause?.message ?? err.message}`,
        {
          hint: 'Use the server’s https URL with a certificate this machine trusts (NODE_EXTRA_CA_CERTS=ca.pem for a private CA)',
        },
      )
    }
    return new IronError(
      'SERVER_UNREACHABLE',
      `Cannot reach the iron server at ${this.url}: ${reasonOf(code, err)}`,
      {
        hint: 'Check that `iron serve` is running there and the URL is right (--server, IRON_SERVER, or the context iron login set; see iron whoami)',
      },
    )
  }
}

/** An IronError that came from the server: the same error, with the server's request id for its logs. */
export class ServerError extends IronError {
  readonly requestId: string | undefined
  constructor(
    code: string,
    message: string,
    options: { hint?: string; exitCode: ExitCode; details?: Record<string, unknown>; requestId?: string },
  ) {
    super(code, message, options)
    this.requestId = options.requestId
  }
}

interface WireError {
  code?: unknown
  message?: unknown
  hint?: unknown
  exit_code?: unknown
  fields?: unknown
  details?: unknown
  request_id?: unknown
}

/** `https://Host:443/path/` → `https://host/path`: one spelling per server, for the vault and the config. */
export function normalizeServerUrl(raw: string): string {
  let url: URL
  try {
    url = new URL(raw.trim())
  } catch {
    throw new IronError('INVALID_SERVER_URL', `Not a URL: ${JSON.stringify(raw)}`, {
      exitCode: ExitCode.usage,
      hint: 'Give the server as http(s)://host[:port], e.g. https://iron.example.com or http://127.0.0.1:8787',
    })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new IronError(
      'INVALID_SERVER_URL',
      `The server URL must start with http:// or https:// (got ${url.protocol})`,
      {
        exitCode: ExitCode.usage,
        hint: 'e.g. https://iron.example.com or http://127.0.0.1:8787',
      },
    )
  }
  if (url.username || url.password) {
    throw new IronError('INVALID_SERVER_URL', 'The server URL must not carry a user name or password', {
      exitCode: ExitCode.usage,
      hint: 'Sign in with iron login URL (the password is asked for, or read with --password-stdin)',
    })
  }
  if (url.search || url.hash) {
    throw new IronError('INVALID_SERVER_URL', 'The server URL must not have a query or a fragment', {
      exitCode: ExitCode.usage,
      hint: 'Give only the scheme, host, port and (if the server is mounted under one) path',
    })
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

/** Whether plain HTTP to this URL leaves the machine (a password or token would cross the network readable). */
export function isPlainHttpOffMachine(url: string): boolean {
  const { protocol, hostname } = new URL(url)
  if (protocol !== 'http:') return false
  return !(hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname))
}

function checkPage<T>(page: unknown, where: string): ListPage<T> {
  const p = page as Partial<ListPage<T>> | undefined
  if (!p || !Array.isArray(p.data) || (p.next_cursor !== null && typeof p.next_cursor !== 'string')) {
    throw new IronError(
      'SERVER_ERROR',
      `${where} did not answer a list ({"data": [...], "next_cursor": ...})`,
      {
        hint: 'The server may be a different version of iron; compare iron --version with its /api/health',
      },
    )
  }
  return { data: p.data, next_cursor: p.next_cursor ?? null }
}

const EXIT_CODES = new Set<number>(Object.values(ExitCode))
const isExitCode = (value: unknown): value is ExitCode => typeof value === 'number' && EXIT_CODES.has(value)

/** The exit code of SPEC §3 for a status, when the server did not send one. */
function exitCodeOfStatus(status: number): ExitCode {
  if (status === 400 || status === 413 || status === 422 || status === 405) return ExitCode.usage
  if (status === 401 || status === 403) return ExitCode.auth
  if (status === 404) return ExitCode.notFound
  if (status === 402) return ExitCode.refused
  return ExitCode.failure
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

function headerOf(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

function reasonOf(code: string, error: Error & { cause?: { message?: string } }): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens on that port)'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve'
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'the connection was closed'
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return 'the connection timed out'
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the host'
    default:
      return error.cause?.message ?? error.message
  }
}
