// How the stand-alone benchmark servers (bench/mock-provider.js, bench/passthrough.js) stop.

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
