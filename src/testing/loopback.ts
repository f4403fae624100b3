import type { Server } from 'node:http'

/** Listen on 127.0.0.1 (port 0: any free port) and resolve once listening. */
export function listenOnLoopback(server: Server, port = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve(undefined)
    })
  })
}
