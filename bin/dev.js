#!/usr/bin/env -S node --import tsx
// Runs the TypeScript sources without a build (needs the tsx dev dependency).
await import('./check-node.js')
const { execute } = await import('@oclif/core')
await execute({ development: true, dir: import.meta.url })
