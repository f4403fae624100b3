import { createRequire } from 'node:module'
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads'

/**
 * A synchronous connection to PostgreSQL. The services' transactions are synchronous functions (they run
 * whole, with nothing interleaved, on SQLite too), so on PostgreSQL each statement is sent by a worker
 * thread that holds the `postgres` client, while this thread waits for its answer (Atomics.wait, then
 * receiveMessageOnPort). One bridge is one connection: its process runs one transaction at a time, and
 * replicas of `iron serve` run theirs side by side, kept apart by the database's own locking.
 */

/** Where the bridge connects, with which startup parameters, and how long one call may wait for its answer. */
export interface BridgeOptions {
  url: string
  /** How long one call may wait for its answer, in ms (the statement timeout, plus connecting). */
  callTimeoutMs: number
  /** Startup parameters of each connection (application_name, statement_timeout, …). */
  connection: Record<string, string | number>
  connectTimeoutS: number
}

export interface BridgeQuery {
  text: string
  params: unknown[]
}

/** `depth`: the transactions and savepoints the caller has open, which the worker must hold as many of. */
export type BridgeRequest =
  | { op: 'query'; queries: BridgeQuery[]; depth: number }
  | { op: 'exec'; text: string; depth: number }
  | { op: 'begin'; mode: string; queries: BridgeQuery[]; depth: number }
  | { op: 'commit'; queries: BridgeQuery[]; depth: number }
  | { op: 'rollback' }
  | { op: 'close' }

export interface QueryAnswer {
  columns: string[]
  rows: unknown[][]
  count: number
}

/** An error as it crossed the bridge: PostgreSQL's SQLSTATE in `code`, or the client's own code. */
export class PostgresStoreError extends Error {
  readonly code: string
  readonly detail: string | undefined
  readonly constraint: string | undefined
  constructor(error: { message: string; code?: string; detail?: string; constraint_name?: string }) {
    super(error.message)
    this.name = 'PostgresStoreError'
    this.code = error.code ?? ''
    this.detail = error.detail
    this.constraint = error.constraint_name
  }
}

// The worker: the `postgres` client with one connection. A transaction is a `sql.begin` (a savepoint, nested)
// whose callback waits for the commit or rollback this thread sends; its statements go to that scope.
const WORKER = `
const { workerData } = require('node:worker_threads')
const { port, signal, url, module, connection, connectTimeoutS } = workerData
const flag = new Int32Array(signal)
const ROLLBACK = new Error('rollback')
const frames = []
let sql
const ready = import(require('node:url').pathToFileURL(module).href).then(({ default: postgres }) => {
  const number = (x) => Number(x)
  sql = postgres(url, {
    max: 1,
    connect_timeout: connectTimeoutS,
    fetch_types: false,
    onnotice: () => {},
    connection,
    types: {
      int8: { to: 20, from: [20, 1700], serialize: (x) => String(x), parse: number },
      // 0/1 as SQLite answers: rows look the same on both stores.
      bool: { to: 16, from: [16], serialize: (x) => (x ? 't' : 'f'), parse: (x) => (x === 't' ? 1 : 0) },
    },
  })
})
const reply = (message) => {
  port.postMessage(message)
  Atomics.store(flag, 0, 1)
  Atomics.notify(flag, 0)
}
const plain = (error) => ({
  message: String(error && error.message || error),
  code: error && error.code !== undefined ? String(error.code) : undefined,
  detail: error && error.detail,
  constraint_name: error && error.constraint_name,
})
const top = () => (frames.length ? frames[frames.length - 1].scope : sql)
function open(mode) {
  return new Promise((opened, failed) => {
    const frame = {}
    frame.ended = new Promise((commit, rollback) => { frame.end = { commit, rollback } })
    const body = (scope) => { frame.scope = scope; opened(); return frame.ended }
    const outer = frames.length ? frames[frames.length - 1].scope : undefined
    frame.done = outer ? outer.savepoint(body) : sql.begin(mode, body)
    frame.done.catch(failed)
    frames.push(frame)
  })
}
async function close(commit) {
  const frame = frames.pop()
  if (!frame) return
  if (commit) {
    frame.end.commit()
    await frame.done
  } else {
    frame.end.rollback(ROLLBACK)
    await frame.done.catch(() => {})
  }
}
// The statements of one call, sent at once (pipelined on the connection), answered in order; the first
// that failed is the call's error.
async function runAll(queries) {
  if (!queries || queries.length === 0) return []
  const scope = top()
  const running = queries.map((q) => {
    const query = scope.unsafe(q.text, q.params, { prepare: true }).values()
    query.execute()
    return query
  })
  const answers = []
  let failure
  for (const query of running) {
    try {
      const result = await query
      answers.push({ columns: (result.columns || []).map((c) => c.name), rows: Array.from(result), count: result.count || 0 })
    } catch (error) {
      failure = failure || error
    }
  }
  if (failure) throw failure
  return answers
}
// The thread that sends the calls says how many transactions and savepoints it has open; a worker that
// does not hold as many (it was started again after a timeout, its connection was lost) refuses the call
// rather than run it outside the transaction it belongs to.
function inStep(message) {
  if (message.depth !== undefined && message.depth !== frames.length) {
    const error = new Error('the connection was lost in the middle of a transaction; nothing of it was committed')
    error.code = 'BRIDGE_OUT_OF_STEP'
    throw error
  }
}
async function handle(message) {
  await ready
  inStep(message)
  switch (message.op) {
    case 'query':
      return await runAll(message.queries)
    case 'exec':
      await top().unsafe(message.text).simple()
      return null
    case 'begin': {
      // The writes waiting in the transaction around a savepoint go first.
      const answers = await runAll(message.queries)
      try {
        await open(message.mode)
      } catch (error) {
        frames.pop()
        throw error
      }
      return answers
    }
    case 'commit':
      // The writes still waiting, then the commit (a savepoint's release). If any fails, the transaction
      // (or savepoint) is rolled back here: after a failed commit no frame of it is left.
      let answers
      try {
        answers = await runAll(message.queries)
      } catch (error) {
        await close(false)
        throw error
      }
      await close(true)
      return answers
    case 'rollback':
      await close(false)
      return null
    case 'close':
      while (frames.length) await close(false)
      await sql.end({ timeout: 5 })
      return null
  }
}
port.on('message', (message) => {
  handle(message).then((value) => reply({ ok: true, value }), (error) => reply({ ok: false, error: plain(error) }))
})
`

export class PostgresBridge {
  readonly #options: BridgeOptions
  #worker: Worker | undefined
  #port: MessagePort | undefined
  #flag: Int32Array | undefined

  constructor(options: BridgeOptions) {
    this.#options = options
  }

  /** Send one request and wait for its answer; a PostgreSQL error is thrown as a PostgresStoreError. */
  call(request: BridgeRequest): unknown {
    const { port, flag } = this.#start()
    Atomics.store(flag, 0, 0)
    port.postMessage(request)
    if (Atomics.wait(flag, 0, 0, this.#options.callTimeoutMs) === 'timed-out') {
      // The worker is stuck (a server that stopped answering): drop it, and its connection with it.
      this.#stop()
      throw new PostgresStoreError({
        message: `no answer within ${Math.round(this.#options.callTimeoutMs / 1000)}s`,
        code: 'BRIDGE_TIMEOUT',
      })
    }
    const answer = receiveMessageOnPort(port)?.message as
      | { ok: true; value: unknown }
      | { ok: false; error: { message: string; code?: string } }
      | undefined
    if (!answer)
      throw new PostgresStoreError({ message: 'the connection worker stopped', code: 'BRIDGE_DOWN' })
    if (!answer.ok) throw new PostgresStoreError(answer.error)
    return answer.value
  }

  close(): void {
    if (!this.#worker) return
    try {
      this.call({ op: 'close' })
    } finally {
      this.#stop()
    }
  }

  #start(): { port: MessagePort; flag: Int32Array } {
    if (this.#port && this.#flag) return { port: this.#port, flag: this.#flag }
    const signal = new SharedArrayBuffer(4)
    const { port1, port2 } = new MessageChannel()
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: {
        port: port2,
        signal,
        url: this.#options.url,
        module: createRequire(import.meta.url).resolve('postgres'),
        connection: this.#options.connection,
        connectTimeoutS: this.#options.connectTimeoutS,
      },
      transferList: [port2],
    })
    worker.unref()
    worker.on('error', () => {})
    this.#worker = worker
    this.#port = port1
    this.#flag = new Int32Array(signal)
    return { port: port1, flag: this.#flag }
  }

  #stop(): void {
    void this.#worker?.terminate()
    this.#port?.close()
    this.#worker = undefined
    this.#port = undefined
    this.#flag = undefined
  }
}
