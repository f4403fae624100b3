// What the benchmark servers (mock provider, pass-through) share: listening on loopback, and stopping.

/**
 * Listen on 127.0.0.1 (port 0: any free port) and resolve once listening.
 * @param {import('node:http').Server} server
 * @param {number} [port]
 */
export function listenOnLoopback(server, port = 0) {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve(undefined)
    })
  })
}

/**
 * Close on SIGINT or SIGTERM (and, with `stdinClose`, when the parent closes our stdin), then exit; exit
 * anyway after 2 s.
 * @param {() => Promise<unknown>} close
 * @param {{ stdinClose?: boolean }} [options]
 */
export function exitWhenTold(close, options = {}) {
  const stop = () => {
    close().then(() => process.exit(0))
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  if (options.stdinClose) {
    process.stdin.on('end', stop)
    process.stdin.on('close', stop)
    process.stdin.resume()
  }
}
