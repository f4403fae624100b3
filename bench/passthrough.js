#!/usr/bin/env node
// Runs the bare pass-through proxy on its own (the floor of the gateway benchmarks).
//   node bench/passthrough.js --upstream http://127.0.0.1:9100 [--port 0] [--stream-request]
// Prints `passthrough listening on <url>` once ready; stops on SIGINT/SIGTERM (or when stdin closes, with
// --exit-on-stdin-close).
import { parseArgs } from 'node:util'
import { startPassthrough } from '../dist/src/testing/passthrough.js'
import { exitWhenTold } from './lib/serve.js'

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    port: { type: 'string', default: '0' },
    'stream-request': { type: 'boolean', default: false },
    'exit-on-stdin-close': { type: 'boolean', default: false },
  },
})
if (!values.upstream) {
  console.error('usage: node bench/passthrough.js --upstream <url> [--port N] [--stream-request]')
  process.exit(2)
}
const proxy = await startPassthrough({
  upstream: values.upstream,
  port: Number(values.port),
  bufferRequest: !values['stream-request'],
})
console.log(`passthrough listening on ${proxy.url}`)

exitWhenTold(() => proxy.close(), { stdinClose: values['exit-on-stdin-close'] })
