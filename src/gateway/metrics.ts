/** Prometheus text exposition of the gateway's counters and histograms, kept in memory. */
const LATENCY_BUCKETS_MS = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000]
const OVERHEAD_BUCKETS_MS = [0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 25, 50]

class Histogram {
  readonly counts: number[]
  sum = 0
  count = 0
  constructor(readonly buckets: number[]) {
    this.counts = new Array(buckets.length).fill(0)
  }
  observe(value: number): void {
    this.sum += value
    this.count++
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.counts[i]!++
  }
}

const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
    .join(',')

/** A request's label sets, built once per agent, model, status and outcome (the same few, request after request). */
interface RequestLabels {
  requests: string
  errors: string
  spend: string
  input: string
  output: string
}
const requestLabels = new Map<string, RequestLabels>()
function labelsOf(agent: string, model: string, status: number, outcome: string): RequestLabels {
  const key = `${agent}\u0000${model}\u0000${status}\u0000${outcome}`
  let labels = requestLabels.get(key)
  if (!labels) {
    if (requestLabels.size > 10_000) requestLabels.clear()
    labels = {
      requests: labelText({ agent, model, status: String(status) }),
      errors: labelText({ agent, reason: outcome }),
      spend: labelText({ agent, model }),
      input: labelText({ agent, model, direction: 'input' }),
      output: labelText({ agent, model, direction: 'output' }),
    }
    requestLabels.set(key, labels)
  }
  return labels
}

export class Metrics {
  readonly startedAt = Date.now()
  readonly #requests = new Map<string, number>()
  readonly #errors = new Map<string, number>()
  readonly #spend = new Map<string, number>()
  readonly #tokens = new Map<string, number>()
  readonly latency = new Histogram(LATENCY_BUCKETS_MS)
  readonly overhead = new Histogram(OVERHEAD_BUCKETS_MS)
  inFlight = 0

  request(
    labels: { agent: string; model: string; outcome: string; status: number },
    cost: number,
    tokens: { input: number; output: number },
  ): void {
    const l = labelsOf(labels.agent, labels.model, labels.status, labels.outcome)
    bump(this.#requests, l.requests)
    if (labels.status >= 400) bump(this.#errors, l.errors)
    if (cost > 0) bump(this.#spend, l.spend, cost)
    if (tokens.input) bump(this.#tokens, l.input, tokens.input)
    if (tokens.output) bump(this.#tokens, l.output, tokens.output)
  }

  get totalRequests(): number {
    let n = 0
    for (const v of this.#requests.values()) n += v
    return n
  }

  get totalErrors(): number {
    let n = 0
    for (const v of this.#errors.values()) n += v
    return n
  }

  get totalSpend(): number {
    let n = 0
    for (const v of this.#spend.values()) n += v
    return n
  }

  render(remaining: Array<{ agent: string; micros: number | null }>): string {
    const lines: string[] = []
    const counter = (name: string, help: string, values: Map<string, number>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`)
      for (const [labels, value] of values) lines.push(`${name}{${labels}} ${value}`)
    }
    const histogram = (name: string, help: string, h: Histogram) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`)
      h.buckets.forEach((b, i) => {
        lines.push(`${name}_bucket{le="${b}"} ${h.counts[i]}`)
      })
      lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`)
    }
    counter('iron_requests_total', 'Requests answered, by agent, model and HTTP status.', this.#requests)
    counter('iron_errors_total', 'Requests answered with an error, by agent and reason.', this.#errors)
    counter('iron_spend_micros_total', 'Spend charged to budgets, in micro-USD.', this.#spend)
    counter('iron_tokens_total', 'Tokens metered, by direction.', this.#tokens)
    histogram('iron_request_duration_ms', 'Time to answer a request, in milliseconds.', this.latency)
    histogram(
      'iron_overhead_ms',
      "The gateway's own time per request (total minus upstream), in milliseconds.",
      this.overhead,
    )
    lines.push(
      '# HELP iron_in_flight_requests Requests being answered now.',
      '# TYPE iron_in_flight_requests gauge',
      `iron_in_flight_requests ${this.inFlight}`,
    )
    lines.push(
      '# HELP iron_budget_remaining_micros What is left of each budgeted agent this period.',
      '# TYPE iron_budget_remaining_micros gauge',
    )
    for (const r of remaining)
      if (r.micros !== null)
        lines.push(`iron_budget_remaining_micros{${labelText({ agent: r.agent })}} ${r.micros}`)
    return `${lines.join('\n')}\n`
  }
}

function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by)
}
