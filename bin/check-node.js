// The Node.js iron needs, checked before anything else loads: an older Node would fail later with a stack
// trace about a missing API. Plain syntax, so that old versions can parse it. `npm run build` runs it too.
const NEEDED = [22, 19]
const have = process.versions.node.split('.').map(Number)

if (have[0] < NEEDED[0] || (have[0] === NEEDED[0] && have[1] < NEEDED[1])) {
  process.stderr.write(
    `iron needs Node.js ${NEEDED.join('.')} or newer (this is ${process.versions.node}): ` +
      `install the current Node.js ${NEEDED[0]} from https://nodejs.org, or run: nvm install ${NEEDED[0]}\n`,
  )
  process.exit(1)
}
