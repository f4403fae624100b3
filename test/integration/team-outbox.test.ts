import { spawn } from 'node:child_process'
import { statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { newId } from '../../src/core/ids.js'
import type { RequestRecord } from '../../src/services/gateway-control.js'
import type { ReportedEvent } from '../../src/services/lease-protocol.js'
import { Outbox, type OutboxLease } from '../../src/services/remote/outbox.js'
import { BATCH_MAX, Reporter } from '../../src/services/remote/reporter.js'
import { waitUntil } from '../helpers/spawned-gateway.js'
import { tempDir } from '../helpers/temp.js'

const ROOT = resolve(import.meta.dirname, '../..')
const open: Outbox[] = []
const reporters: Reporter[] = []
afterEach(async () => {
  for (const r of reporters.splice(0)) await r.stop(0)
  for (const o of open.splice(0)) o.close()
})

const outboxIn = (dir: string) => {
  const outbox = Outbox.open(dir)
  open.push(outbox)
  return outbox
}

function event(cost: number | null = 10): ReportedEvent {
  const id = newId('req')
  const record = { id, agent_id: 'agent_x', started_at: Date.now() } as unknown as RequestRecord
  return {
    request_id: id,
    at: Date.now(),
    model: 'gpt-4o-mini',
    provider: 'openai',
    input_tokens: 3,
    output_tokens: 4,
    cached_tokens: 0,
    cost_micros: cost,
    cost_known: true,
    room_micros: cost ?? 0,
    record,
  }
}

const LEASE = (id = 'lease_a'): Omit<OutboxLease, 'return_spent'> => ({
  lease_id: id,
  server: 'http://127.0.0.1:1',
  agent_id: 'agent_x',
  report_key: 'k',
  runtime_id: 'gw:test',
})

describe('the outbox', () => {
  it('keeps reports in order across a reopen, once per request id, until acknowledged; its file is private', () => {
    const dir = tempDir('outbox')
    let outbox = outboxIn(dir)
    outbox.rememberLease(LEASE())
    const events = [event(1), event(2), event(3)]
    for (const e of events) outbox.put('lease_a', e, e.cost_micros!)
    outbox.put('lease_a', events[0]!, 1)
    expect(outbox.size).toBe(3)
    expect(statSync(outbox.path).mode & 0o777).toBe(0o600)
    outbox.close()

    outbox = outboxIn(dir)
    const batch = outbox.batch('lease_a', 2)
    expect(batch.map((b) => b.event.request_id)).toEqual(events.slice(0, 2).map((e) => e.request_id))
    expect(outbox.drawnPending('lease_a')).toBe(6)
    outbox.acknowledge('lease_a', batch.at(-1)!.seq)
    expect(outbox.batch('lease_a', 10).map((b) => b.event.request_id)).toEqual([events[2]!.request_id])
    expect(outbox.leases()).toEqual([{ ...LEASE(), return_spent: null }])
    outbox.markReturn('lease_a', 6)
    outbox.dropLease('lease_a')
    expect(outbox.leases()).toHaveLength(1)
    outbox.acknowledge('lease_a', Number.MAX_SAFE_INTEGER)
    outbox.dropLease('lease_a')
    expect(outbox.leases()).toEqual([])
  })

  it('cuts a batch at about half a megabyte of JSON, never below one report', () => {
    const outbox = outboxIn(tempDir('outbox'))
    outbox.rememberLease(LEASE())
    for (let i = 0; i < 5; i++) outbox.put('lease_a', event(), 0)
    const size = JSON.stringify(outbox.batch('lease_a', 1)[0]!.event).length
    expect(outbox.batch('lease_a', 5, size * 2 + 1)).toHaveLength(2)
    expect(outbox.batch('lease_a', 5, 1)).toHaveLength(1)
  })

  it('each live gateway holds a file of its own; a new one takes over a file nobody holds, with what it kept', () => {
    const dir = tempDir('outbox')
    const first = outboxIn(dir)
    const second = outboxIn(dir)
    expect(first.path).not.toBe(second.path)
    first.rememberLease(LEASE())
    first.put('lease_a', event(), 0)
    first.close()
    const third = outboxIn(dir)
    expect(third.path).toBe(first.path)
    expect(third.size).toBe(1)
  })

  it('a report written by a process killed with SIGKILL right after is there for the next one (and the lock died with it)', async () => {
    const dir = tempDir('outbox')
    const script = `
      import { Outbox } from './src/services/remote/outbox.ts'
      const outbox = Outbox.open(${JSON.stringify(dir)})
      outbox.rememberLease({ lease_id: 'lease_a', server: 'http://x', agent_id: 'agent_x', report_key: null, runtime_id: 'gw:dead' })
      for (let i = 0; i < 100; i++)
        outbox.put('lease_a', { request_id: 'req_' + String(i).padStart(26, '0'), cost_micros: i }, i)
      process.stdout.write('written\\n')
      setInterval(() => {}, 1000)
    `
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout!.on('data', (d) => (out += d))
    const exited = new Promise((r) => child.on('exit', r))
    await waitUntil(() => out.includes('written'))
    // While it lives, its file is its own.
    const beside = outboxIn(dir)
    expect(beside.path).not.toBe(join(dir, 'outbox-1.db'))
    beside.close()
    child.kill('SIGKILL')
    await exited
    const next = outboxIn(dir)
    expect(next.path).toBe(join(dir, 'outbox-1.db'))
    expect(next.size).toBe(100)
    expect(next.drawnPending('lease_a')).toBe((99 * 100) / 2)
    expect(next.leases()[0]!.runtime_id).toBe('gw:dead')
  })
})

describe('the reporter', () => {
  const unreachable = (error: unknown) => (error as IronError).code === 'SERVER_UNREACHABLE'

  it('sends batches of at most 500 in order, deletes what the server acknowledged, heartbeats live leases, then returns', async () => {
    const outbox = outboxIn(tempDir('outbox'))
    outbox.rememberLease(LEASE('lease_a'))
    outbox.rememberLease(LEASE('lease_b'))
    const written = Array.from({ length: 1_234 }, () => event())
    for (const e of written) outbox.put('lease_a', e, 10)
    const sent: Array<{ lease: string; ids: string[] }> = []
    const returned: string[] = []
    const reporter = new Reporter({
      outbox,
      send: async (lease, events) => {
        sent.push({ lease: lease.lease_id, ids: events.map((e) => e.request_id) })
      },
      giveBack: async (lease) => {
        returned.push(`${lease.lease_id}:${lease.return_spent}`)
      },
      live: () => ['lease_b'],
      unreachable,
      intervalMs: 60_000,
    })
    reporters.push(reporter)
    outbox.markReturn('lease_a', 12_340)
    await reporter.flush()
    const toA = sent.filter((s) => s.lease === 'lease_a')
    expect(toA.map((s) => s.ids.length)).toEqual([BATCH_MAX, BATCH_MAX, 234])
    expect(toA.flatMap((s) => s.ids)).toEqual(written.map((e) => e.request_id))
    expect(sent.filter((s) => s.lease === 'lease_b')).toEqual([{ lease: 'lease_b', ids: [] }])
    expect(returned).toEqual(['lease_a:12340'])
    expect(outbox.size).toBe(0)
    expect(outbox.leases().map((l) => l.lease_id)).toEqual(['lease_b'])
  })

  it('while the server cannot be reached, keeps everything and tries again; then delivers each report once', async () => {
    const outbox = outboxIn(tempDir('outbox'))
    outbox.rememberLease(LEASE())
    const written = Array.from({ length: 120 }, () => event())
    let down = true
    const delivered: string[] = []
    const reached: boolean[] = []
    const reporter = new Reporter({
      outbox,
      send: async (_lease, events) => {
        if (down) throw new IronError('SERVER_UNREACHABLE', 'down')
        delivered.push(...events.map((e) => e.request_id))
      },
      giveBack: async () => {},
      live: () => ['lease_a'],
      unreachable,
      onReach: (ok) => reached.push(ok),
      intervalMs: 100,
    })
    reporters.push(reporter)
    reporter.start()
    for (const e of written) {
      outbox.put('lease_a', e, 1)
      reporter.added()
    }
    await waitUntil(() => reached.includes(false))
    expect(outbox.size).toBe(120)
    down = false
    await waitUntil(() => outbox.size === 0)
    expect(delivered).toEqual(written.map((e) => e.request_id))
    expect(reached.at(-1)).toBe(true)
  })

  it('50 new reports send a batch without waiting for the interval', async () => {
    const outbox = outboxIn(tempDir('outbox'))
    outbox.rememberLease(LEASE())
    const batches: number[] = []
    const reporter = new Reporter({
      outbox,
      send: async (_lease, events) => {
        batches.push(events.length)
      },
      giveBack: async () => {},
      live: () => [],
      unreachable,
      intervalMs: 60_000,
    })
    reporters.push(reporter)
    reporter.start()
    for (let i = 0; i < 49; i++) {
      outbox.put('lease_a', event(), 1)
      reporter.added()
    }
    await reporter.idle()
    expect(batches).toEqual([])
    outbox.put('lease_a', event(), 1)
    reporter.added()
    await waitUntil(() => outbox.size === 0)
    expect(batches).toEqual([50])
  })

  it('a lease whose reports are refused (no credential yet) waits, and the others go on', async () => {
    const outbox = outboxIn(tempDir('outbox'))
    outbox.rememberLease(LEASE('lease_a'))
    outbox.rememberLease(LEASE('lease_b'))
    outbox.put('lease_a', event(), 1)
    outbox.put('lease_b', event(), 1)
    let refuse = true
    const lines: string[] = []
    const reporter = new Reporter({
      outbox,
      send: async (lease) => {
        if (lease.lease_id === 'lease_a' && refuse)
          throw new IronError('INVALID_TOKEN', 'not known', { exitCode: 4 })
      },
      giveBack: async () => {},
      live: () => [],
      unreachable,
      log: (line) => lines.push(line),
      intervalMs: 60_000,
    })
    reporters.push(reporter)
    await reporter.flush()
    expect(outbox.pendingByLease()).toEqual(new Map([['lease_a', 1]]))
    expect(lines.join('\n')).toContain('lease_a')
    refuse = false
    await reporter.flush()
    expect(outbox.size).toBe(1)
    reporter.retryRefused()
    await reporter.flush()
    expect(outbox.size).toBe(0)
  })

  it('a batch the server refuses as it is gets split; the one report it will never take is set aside, the rest delivered', async () => {
    const outbox = outboxIn(tempDir('outbox'))
    outbox.rememberLease(LEASE())
    const written = Array.from({ length: 40 }, () => event())
    const bad = written[17]!.request_id
    for (const e of written) outbox.put('lease_a', e, 1)
    const delivered: string[] = []
    const lines: string[] = []
    const reporter = new Reporter({
      outbox,
      send: async (_lease, events) => {
        if (events.some((e) => e.request_id === bad))
          throw new IronError('VALIDATION_FAILED', 'events.0.record: unknown key', { exitCode: 2 })
        delivered.push(...events.map((e) => e.request_id))
      },
      giveBack: async () => {},
      live: () => [],
      unreachable,
      rejectsBatch: (error) => (error as IronError).code === 'VALIDATION_FAILED',
      log: (line) => lines.push(line),
      intervalMs: 60_000,
    })
    reporters.push(reporter)
    await reporter.flush()
    expect(delivered).toEqual(written.filter((e) => e.request_id !== bad).map((e) => e.request_id))
    expect(outbox.size).toBe(0)
    expect(outbox.refused).toBe(1)
    expect(lines.join('\n')).toContain(bad)
  })
})
