// src/testing/ (the mock provider, the pass-through, the load driver) is for tests and benchmarks only: the
// product must not import it.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return /\.tsx?$/.test(entry.name) ? [path] : []
  })
}

describe('src/testing', () => {
  it('is imported by no production code', () => {
    const production = ['src', 'commands', 'tui']
      .flatMap((dir) => sources(join(ROOT, dir)))
      .filter((file) => !relative(ROOT, file).startsWith(join('src', 'testing')))
    expect(production.length).toBeGreaterThan(50)
    const importers = production.filter((file) =>
      /(?:from|import)\s*\(?\s*['"][^'"]*\/testing\/[^'"]*['"]/.test(readFileSync(file, 'utf8')),
    )
    expect(importers.map((file) => relative(ROOT, file))).toEqual([])
  })
})
