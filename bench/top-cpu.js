#!/usr/bin/env node
// CPU and memory of `iron top` (the real binary, in a real terminal via tmux) at 4 refreshes per second,
// fed 200 events/s across 50 agents by a stand-in event source. Target: ≤ 10% of one core; memory flat.
//   npm run build && node bench/top-cpu.js [--seconds 60] [--rate 200] [--agents 50]
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '200' },
    agents: { type: 'string', default: '50' },
  },
})
const seconds = Number(values.seconds)
const rate = Number(values.rate)
const agents = Array.from({ length: Number(values.agents) }, (_, i) => `agent-${String(i).padStart(2, '0')}`)
const token = 'bench-admin-token'

const budgets = agents.map((name, i) => ({
  agent_id: `agent_${i}`,
  agent_name: name,
  limit_micros: 100_000_000,
  period: 'monthly',
  timezone: 'UTC',
  on_insufficient: 'reject',
  alert_thresholds: [50, 80, 95, 100],
  period_start: '2026-11-01T00:00:00.000Z',
  period_end: '2026-12-01T00:00:00.000Z',
  spent_micros: i * 100_000,
  reserved_micros: 0,
  leased_micros: 0,
  remaining_micros: 100_000_000 - i * 100_000,
  used_pct: i / 10,
  updated_at: new Date().toISOString(),
}))
const watchers = new Set()
const server = createServer((req, res) => {
  if (req.headers.authorization !== `Bearer ${token}`) return res.writeHead(401).end()
  if (req.url === '/_iron/stats') {
    res.writeHead(200, { 'content-type': 'application/json' })
    return res.end(
      JSON.stringify({
        uptime_s: 1,
        requests_total: 0,
        errors_total: 0,
        spend_micros_total: 0,
        in_flight: 0,
        budgets,
      }),
    )
  }
  if (req.url === '/_iron/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    watchers.add(res)
    return req.on('close', () => watchers.delete(res))
  }
  res.writeHead(404).end()
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const url = `http://127.0.0.1:${server.address().port}`
let sent = 0
const emitter = setInterval(() => {
  for (let i = 0; i < rate / 20; i++) {
    // The shape of a gateway's request event (src/services/gateway-events.ts): `iron top` skips any other.
    const event = {
      type: 'request',
      at: new Date().toISOString(),
      id: `req_bench${sent}`,
      agent: agents[sent % agents.length],
      agent_id: `agent_${sent % agents.length}`,
      model: 'gpt-4o-mini',
      provider: 'openai',
      status: sent % 50 === 0 ? 402 : 200,
      outcome: sent % 50 === 0 ? 'budget_exceeded' : 'ok',
      stream: false,
      input_tokens: 250,
      output_tokens: 60,
      cost_micros: 40 + (sent % 30),
      latency_ms: 1.5,
    }
    const text = `event: request\ndata: ${JSON.stringify(event)}\n\n`
    for (const res of watchers) res.write(text)
    sent++
  }
}, 50)

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const session = `iron-top-bench-${process.pid}`
const tmux = (...args) => execFileSync('tmux', args, { encoding: 'utf8' })
tmux(
  'new-session',
  '-d',
  '-s',
  session,
  '-x',
  '160',
  '-y',
  '50',
  `exec env TERM=xterm-256color '${process.execPath}' ${process.env.TOP_PROF ? '--cpu-prof --cpu-prof-dir=/tmp/topprof' : ''} '${bin}' top --gateway ${url} --admin-token ${token} --interval 250ms`,
)
const pid = Number(tmux('display', '-p', '-t', session, '#{pane_pid}').trim())
const cpuOf = () => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, in seconds (USER_HZ 100)
}
const rssOf = () =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024

await new Promise((r) => setTimeout(r, 5_000)) // start-up (module loading) is not the steady state
const cpu0 = cpuOf()
const t0 = performance.now()
const samples = []
while ((performance.now() - t0) / 1000 < seconds) {
  await new Promise((r) => setTimeout(r, Math.min(10_000, seconds * 100)))
  samples.push({ at_s: Math.round((performance.now() - t0) / 1000), rss_mb: Number(rssOf().toFixed(1)) })
}
const cpuShare = (cpuOf() - cpu0) / ((performance.now() - t0) / 1000)
const screen = tmux('capture-pane', '-p', '-t', session)
tmux('kill-session', '-t', session)
clearInterval(emitter)
server.close()
for (const res of watchers) res.destroy()

console.log(
  `iron top: ${agents.length} agents, ${rate} events/s, refresh every 250 ms, ${seconds} s measured (node ${process.versions.node})`,
)
console.table(samples)
const first = samples[0]?.rss_mb ?? 0
const last = samples.at(-1)?.rss_mb ?? 0
console.log(
  `CPU: ${(cpuShare * 100).toFixed(1)}% of one core (target ≤ 10%: ${cpuShare <= 0.1 ? 'met' : 'MISSED'})`,
)
console.log(
  `memory: ${first} MB after the first sample, ${last} MB at the end, max ${Math.max(...samples.map((s) => s.rss_mb))} MB`,
)
console.log(
  `events sent: ${sent}; the screen showed ${screen.includes('agent-') ? 'the agents' : 'NO agents'}`,
)
process.exitCode = cpuShare <= 0.1 ? 0 : 1
