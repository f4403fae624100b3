#!/usr/bin/env node
// Export of 1,000,000 audit events in bounded memory: time and peak resident memory of
// `iron audit export` (the real binary), and of `iron audit verify`, against the size of the file.
//   npm run build && node bench/audit-export.js [--events 1000000]
import { spawn } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { IronConfig } from '../dist/src/config/config.js'
import { LocalContext } from '../dist/src/services/context.js'
import { seedAuditEvents, tempIronHome } from './lib/iron-store.js'

const { values } = parseArgs({ options: { events: { type: 'string', default: '1000000' } } })
const total = Number(values.events)
const { root, env, dirs } = tempIronHome('iron-bench-audit-')

// Realistic events: gateway request records, written in large transactions to keep set-up short.
const setupStarted = performance.now()
const ctx = new LocalContext({ config: await IronConfig.load(dirs, env), env })
seedAuditEvents(ctx.db(), total, 'agent_01jd8x4k3m5n6p7q8r9s0t1v2w')
ctx.close()
console.error(`set-up: ${total} events in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`)

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url))
function measure(args) {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let peak = 0
    const poll = setInterval(() => {
      try {
        const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0)
        peak = Math.max(peak, kb)
      } catch {}
    }, 20)
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('close', (code) => {
      clearInterval(poll)
      if (code !== 0) reject(new Error(`${args.join(' ')} exited ${code}: ${err}`))
      else resolve({ seconds: (performance.now() - started) / 1000, peakMb: peak / 1024, out })
    })
  })
}

const file = join(root, 'audit.jsonl')
const exported = await measure(['audit', 'export', '--format', 'jsonl', '--output', file])
const csv = await measure(['audit', 'export', '--format', 'csv', '--output', join(root, 'audit.csv')])
const verified = await measure(['audit', 'verify', '--json'])
const baseline = await measure(['--version'])
const rows = [
  {
    step: 'export jsonl',
    events: total,
    'file MB': (statSync(file).size / 1_048_576).toFixed(0),
    seconds: exported.seconds.toFixed(1),
    'events/s': Math.round(total / exported.seconds),
    'peak RSS MB': exported.peakMb.toFixed(0),
  },
  {
    step: 'export csv',
    events: total,
    'file MB': (statSync(join(root, 'audit.csv')).size / 1_048_576).toFixed(0),
    seconds: csv.seconds.toFixed(1),
    'events/s': Math.round(total / csv.seconds),
    'peak RSS MB': csv.peakMb.toFixed(0),
  },
  {
    step: 'verify',
    events: JSON.parse(verified.out).events,
    'file MB': '',
    seconds: verified.seconds.toFixed(1),
    'events/s': Math.round(total / verified.seconds),
    'peak RSS MB': verified.peakMb.toFixed(0),
  },
  {
    step: 'iron --version (baseline)',
    events: '',
    'file MB': '',
    seconds: baseline.seconds.toFixed(2),
    'events/s': '',
    'peak RSS MB': baseline.peakMb.toFixed(0),
  },
]
console.log(`audit export and verify of ${total} events (node ${process.versions.node})`)
console.table(rows)
const bounded = exported.peakMb < 200 && csv.peakMb < 200
console.log(`bounded memory (peak RSS well under the file size, < 200 MB): ${bounded ? 'yes' : 'NO'}`)
process.exitCode = bounded ? 0 : 1
