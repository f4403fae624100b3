import type { ServerResponse } from 'node:http'
import type { GatewayEvent } from '../services/gateway-events.js'

const MAX_BUFFERED_BYTES = 1024 * 1024

/** Server-sent events to `iron top` and other watchers; a slow watcher is dropped, never waited for. */
export class EventHub {
  readonly #clients = new Set<ServerResponse>()
  #seq = 0

  add(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    })
    res.write(': iron gateway events\n\n')
    this.#clients.add(res)
    res.on('close', () => this.#clients.delete(res))
  }

  get size(): number {
    return this.#clients.size
  }

  publish(event: GatewayEvent): void {
    if (this.#clients.size === 0) return
    const text = `id: ${++this.#seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`
    for (const res of this.#clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy()
      else res.write(text)
    }
  }

  close(): void {
    for (const res of this.#clients) res.end()
    this.#clients.clear()
  }
}
