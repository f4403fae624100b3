import { readdirSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'

/**
 * `/metrics` of `iron serve` in the Prometheus text format: requests by route and status, a latency
 * histogram by route, requests in flight, event-stream watchers, sessions, and the process. Routes are
 * their patterns (`GET /api/v1/agents/{ref}`), never raw paths, so a client cannot grow the label set.
 */

const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

interface RouteLatency {
  counts: number[]
  sum: number
  count: number
}

const labelValue = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

export interface Gauges {
  /** Live sessions in the store (not revoked, not expired). */
  sessions(): number
  eventWatchers(): number
}

export class ServerMetrics {
  readonly startedAt = Date.now()
  readonly #requests = new Map<string, number>()
  readonly #latency = new Map<string, RouteLatency>()
  readonly #loop = monitorEventLoopDelay({ resolution: 20 })
  inFlight = 0

  constructor() {
    this.#loop.enable()
  }

  /** One finished request: its route pattern (or `unmatched`), status and seconds taken. */
  observe(route: string, status: number, seconds: number): void {
    const key = `route="${labelValue(route)}",status="${status}"`
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1)
    let latency = this.#latency.get(route)
    if (!latency) {
      latency = { counts: new Array(LATENCY_BUCKETS_S.length).fill(0), sum: 0, count: 0 }
      this.#latency.set(route, latency)
    }
    latency.sum += seconds
    latency.count++
    for (let n = 0; n < LATENCY_BUCKETS_S.length; n++)
      if (seconds <= LATENCY_BUCKETS_S[n]!) latency.counts[n]!++
  }

  get totalRequests(): number {
    let n = 0
    for (const v of this.#requests.values()) n += v
    return n
  }

  render(gauges: Gauges): string {
    const lines: string[] = []
    const family = (name: string, type: string, help: string) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    }
    family('iron_serve_requests_total', 'counter', 'Requests answered, by route and status')
    for (const [labels, n] of this.#requests) lines.push(`iron_serve_requests_total{${labels}} ${n}`)
    family('iron_serve_request_duration_seconds', 'histogram', 'Time to answer, by route')
    for (const [route, h] of this.#latency) {
      const r = `route="${labelValue(route)}"`
      for (const [n, le] of LATENCY_BUCKETS_S.entries())
        lines.push(`iron_serve_request_duration_seconds_bucket{${r},le="${le}"} ${h.counts[n]}`)
      lines.push(`iron_serve_request_duration_seconds_bucket{${r},le="+Inf"} ${h.count}`)
      lines.push(`iron_serve_request_duration_seconds_sum{${r}} ${round(h.sum)}`)
      lines.push(`iron_serve_request_duration_seconds_count{${r}} ${h.count}`)
    }
    family('iron_serve_requests_in_flight', 'gauge', 'Requests being answered now')
    lines.push(`iron_serve_requests_in_flight ${this.inFlight}`)
    family('iron_serve_event_watchers', 'gauge', 'Clients following /api/v1/events')
    lines.push(`iron_serve_event_watchers ${gauges.eventWatchers()}`)
    family('iron_serve_sessions_active', 'gauge', 'Sessions not revoked and not expired')
    lines.push(`iron_serve_sessions_active ${gauges.sessions()}`)
    this.#process(lines, family)
    return `${lines.join('\n')}\n`
  }

  #process(lines: string[], family: (name: string, type: string, help: string) => void): void {
    const memory = process.memoryUsage()
    const cpu = process.cpuUsage()
    family('process_cpu_seconds_total', 'counter', 'User and system CPU time spent, in seconds')
    lines.push(`process_cpu_seconds_total ${round((cpu.user + cpu.system) / 1e6)}`)
    family('process_resident_memory_bytes', 'gauge', 'Resident memory size, in bytes')
    lines.push(`process_resident_memory_bytes ${memory.rss}`)
    family('process_heap_bytes', 'gauge', 'V8 heap used, in bytes')
    lines.push(`process_heap_bytes ${memory.heapUsed}`)
    family(
      'process_start_time_seconds',
      'gauge',
      'Start time of the process since the Unix epoch, in seconds',
    )
    lines.push(`process_start_time_seconds ${Math.round((Date.now() - process.uptime() * 1000) / 1000)}`)
    const fds = openFds()
    if (fds !== null) {
      family('process_open_fds', 'gauge', 'Open file descriptors')
      lines.push(`process_open_fds ${fds}`)
    }
    family('nodejs_eventloop_delay_p99_seconds', 'gauge', 'Event loop delay, 99th percentile since start')
    lines.push(`nodejs_eventloop_delay_p99_seconds ${round(this.#loop.percentile(99) / 1e9)}`)
  }

  close(): void {
    this.#loop.disable()
  }
}

const round = (n: number) => Math.round(n * 1e6) / 1e6

function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length
  } catch {
    return null
  }
}
