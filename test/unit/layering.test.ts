import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(import.meta.dirname, '../..')

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.tsx?$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
}

/** Every relative import of a file, resolved to a path under the repository. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) =>
    relative(ROOT, resolve(dirname(file), m[1]!)),
  )
}

describe('layering', () => {
  it('the gateway reaches the control plane only through its port: no import from src/store, no SQL', () => {
    const files = sources('src/gateway')
    expect(files.length).toBeGreaterThan(20)
    const offending: string[] = []
    for (const file of files) {
      for (const target of imports(file))
        if (target.startsWith('src/store/')) offending.push(`${relative(ROOT, file)} → ${target}`)
      const text = readFileSync(file, 'utf8')
      if (/\.prepare\(|\bSELECT\s|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\.db\(\)/.test(text))
        offending.push(`${relative(ROOT, file)} runs SQL`)
    }
    expect(offending).toEqual([])
  })

  it('the request path does not know how the control plane is stored', () => {
    const pipeline = [...sources('src/gateway/pipeline'), ...sources('src/gateway/adapters')]
    const leases = join(ROOT, 'src/gateway/leases.ts')
    const gateway = join(ROOT, 'src/gateway/gateway.ts')
    const offending = [...pipeline, leases, gateway].flatMap((file) =>
      imports(file)
        .filter((t) => t.startsWith('src/services/local/') || t.startsWith('src/services/context'))
        .map((t) => `${relative(ROOT, file)} → ${t}`),
    )
    expect(offending).toEqual([])
  })

  it('dependencies point one way: services, store, safety and pricing never import the gateway', () => {
    const offending: string[] = []
    for (const dir of ['src/services', 'src/store', 'src/safety', 'src/pricing', 'src/core', 'src/config']) {
      for (const file of sources(dir))
        for (const target of imports(file))
          if (
            target.startsWith('src/gateway/') ||
            target.startsWith('commands/') ||
            target.startsWith('tui/')
          )
            offending.push(`${relative(ROOT, file)} → ${target}`)
    }
    expect(offending).toEqual([])
  })
})
