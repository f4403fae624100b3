#!/usr/bin/env node
// The Node.js version first: nothing else is imported until it is known to be new enough.
await import('./check-node.js')
const { enableCompileCache } = await import('node:module')

enableCompileCache?.()
// React (iron top) runs its production build unless asked otherwise: the development build costs CPU.
if (process.env.NODE_ENV === undefined) process.env.NODE_ENV = 'production'
// Colour is decided before anything loads: --json, NO_COLOR and TERM=dumb turn it off everywhere.
const argv = process.argv.slice(2)
const json =
  argv.includes('--json') && (argv.indexOf('--') === -1 || argv.indexOf('--json') < argv.indexOf('--'))
if (json || (process.env.NO_COLOR && process.env.FORCE_COLOR === undefined) || process.env.TERM === 'dumb') {
  process.env.FORCE_COLOR = '0'
}
// A reader that goes away (`iron audit export | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(0)
    throw error
  })
}

// `iron --version` answers without loading oclif (it is most of start-up time); same text as oclif prints.
if (argv.length === 1 && argv[0] === '--version') {
  const { readFileSync } = await import('node:fs')
  const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  process.stdout.write(
    `${pjson.name}/${pjson.version} ${process.platform}-${process.arch} node-${process.version}\n`,
  )
  process.exit(0)
}

const { execute } = await import('@oclif/core')
await execute({ dir: import.meta.url })
