#!/usr/bin/env node
// Runs the mock LLM provider on its own (for manual tests, or as the pinned upstream of a benchmark).
//   node bench/mock-provider.js [--port 9100] [--latency 0] [--chunk-delay 0] [--output-tokens 16] [--chunks N]
//                               [--cached-tokens 0] [--embedding-dimensions 1536]
// Prints `mock provider listening on <url>` once ready; stops on SIGINT/SIGTERM (or when stdin closes, with
// --exit-on-stdin-close, so a parent that dies does not leave it behind).
import { parseArgs } from 'node:util'
import { startMockProvider } from '../dist/src/testing/mock-provider.js'
import { exitWhenTold } from './lib/serve.js'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    latency: { type: 'string', default: '0' },
    'chunk-delay': { type: 'string', default: '0' },
    'output-tokens': { type: 'string', default: '16' },
    chunks: { type: 'string' },
    'cached-tokens': { type: 'string', default: '0' },
    'embedding-dimensions': { type: 'string', default: '1536' },
    'exit-on-stdin-close': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  console.log(
    'usage: node bench/mock-provider.js [--port N] [--latency MS] [--chunk-delay MS] [--output-tokens N] ' +
      '[--chunks N] [--cached-tokens N] [--embedding-dimensions N] [--exit-on-stdin-close]',
  )
  process.exit(0)
}

const mock = await startMockProvider({
  port: Number(values.port),
  latencyMs: Number(values.latency),
  chunkDelayMs: Number(values['chunk-delay']),
  outputTokens: Number(values['output-tokens']),
  chunks: values.chunks === undefined ? undefined : Number(values.chunks),
  cachedTokens: Number(values['cached-tokens']),
  embeddingDimensions: Number(values['embedding-dimensions']),
})
console.log(`mock provider listening on ${mock.url}`)

exitWhenTold(() => mock.close(), { stdinClose: values['exit-on-stdin-close'] })
