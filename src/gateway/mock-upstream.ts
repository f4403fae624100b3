import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { walkBody } from '../safety/index.js'
import type { ApiAdapter, Json } from './adapters/types.js'
import { countInputTokens } from './tokenizer.js'
import type { UpstreamResponse } from './upstream.js'

const WORDS = (
  'the agent reviewed the request and found a clear answer based on the data provided so far it suggests ' +
  'checking the account settings then retrying the last step while keeping a record of each change for audit'
).split(' ')

export interface MockOptions {
  /** Pause between streamed chunks, to look like a real model in demos. */
  chunkDelayMs?: number
}

/**
 * The built-in `mock` provider: answers in-process, in each API's shape (the adapter's), with a
 * deterministic reply and realistic usage (input counted like the gateway counts it, one token per output
 * word). It honours `stream_options.include_usage` as OpenAI does.
 */
export function mockRespond(
  adapter: ApiAdapter,
  body: Json,
  maxOutput: number,
  options: MockOptions = {},
): UpstreamResponse {
  const model = String(body.model)
  const walked = walkBody(adapter.walkRequest, body)
  const input = countInputTokens(walked.texts, model, 'mock').tokens + walked.tokenIds
  const seed = createHash('sha256')
    .update(JSON.stringify(body.messages ?? body.input ?? ''))
    .digest()
  const length = Math.max(1, Math.min(maxOutput, 12 + (seed[0]! % 40)))
  const words = Array.from({ length }, (_, i) => WORDS[(seed[i % seed.length]! + i) % WORDS.length]!)
  const delay = options.chunkDelayMs ?? 0
  return adapter.mock(body, {
    model,
    input,
    length,
    words,
    text: words.join(' '),
    id: `mock-${seed.toString('hex').slice(0, 12)}`,
    created: Math.floor(Date.now() / 1000),
    stream: body.stream === true,
    includeUsage: (body.stream_options as Json | undefined)?.include_usage === true,
    chunks(size) {
      const out: string[] = []
      for (let i = 0; i < words.length; i += size)
        out.push((i ? ' ' : '') + words.slice(i, i + size).join(' '))
      return out
    },
    pause: () => (delay ? sleep(delay).then(() => undefined) : Promise.resolve()),
  })
}
