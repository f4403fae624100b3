import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MIN_NODE_VERSION } from '../../src/services/setup.js'
import { BIN, ROOT } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

/** A preload that makes this Node report another version, as an older install would. */
function olderNode(version: string): string {
  const file = join(tempDir('iron-node'), 'older.mjs')
  writeFileSync(
    file,
    `Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '${version}' } })\n` +
      `Object.defineProperty(process, 'version', { value: 'v${version}' })\n`,
  )
  return file
}

function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd ?? ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const NEEDED_LINE = (version: string) =>
  new RegExp(
    `^iron needs Node\\.js ${MIN_NODE_VERSION.replace('.', '\\.')} or newer \\(this is ${version.replaceAll('.', '\\.')}\\): install .*https://nodejs\\.org.*\\n$`,
  )

/** A Node.js older than iron needs on this machine (the system one, when the tests run on a newer), if any. */
function realOlderNode(): string | undefined {
  for (const candidate of [process.env.IRON_TEST_OLD_NODE, '/usr/bin/node', '/usr/local/bin/node']) {
    if (!candidate) continue
    const found = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' })
    const [major = 0, minor = 0] = (found.stdout ?? '').trim().split('.').map(Number)
    const [needMajor = 0, needMinor = 0] = MIN_NODE_VERSION.split('.').map(Number)
    if (
      found.status === 0 &&
      major >= 14 &&
      (major < needMajor || (major === needMajor && minor < needMinor))
    )
      return candidate
  }
  return undefined
}

describe('an older Node.js', () => {
  it('bin/run.js says in one line what is needed and how to get it, and exits 1, before loading anything', async () => {
    for (const version of ['20.20.2', '22.18.0']) {
      for (const args of [['--version'], ['doctor'], ['gateway', 'start']]) {
        const r = await run(process.execPath, ['--import', olderNode(version), BIN, ...args])
        expect(r.code, `${version} ${args.join(' ')}`).toBe(1)
        expect(r.stdout).toBe('')
        expect(r.stderr).toMatch(NEEDED_LINE(version))
      }
    }
    const current = await run(process.execPath, [BIN, '--version'])
    expect(current.code).toBe(0)
    expect(current.stderr).toBe('')
  })

  it.skipIf(!realOlderNode())('bin/run.js on a real older Node.js prints the same line', async () => {
    const node = realOlderNode()!
    const version = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
    for (const args of [['--version'], ['doctor']]) {
      const r = await run(node, [BIN, ...args])
      expect(r.code).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr).toMatch(NEEDED_LINE(version))
    }
  })

  it('npm run build stops with the same line before compiling anything', async () => {
    const r = await run('npm', ['run', 'build'], {
      env: { ...process.env, NODE_OPTIONS: `--import=${olderNode('20.20.2')}` },
    })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/^iron needs Node\.js 22\.19 or newer \(this is 20\.20\.2\)/m)
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/\btsc\b.*error|TypeError/)
  })

  it('npm ci refuses at once, naming the requirement, instead of installing for a minute', async () => {
    const dir = tempDir('iron-ci')
    for (const file of ['package.json', 'package-lock.json', '.npmrc'])
      copyFileSync(join(ROOT, file), join(dir, file))
    const env = { ...process.env, npm_config_cache: join(dir, 'cache') }
    const older = await run('npm', ['ci', '--dry-run', '--offline', '--no-audit', '--no-fund'], {
      cwd: dir,
      env: { ...env, NODE_OPTIONS: `--import=${olderNode('20.20.2')}` },
    })
    expect(older.code).not.toBe(0)
    expect(older.stderr).toContain('EBADENGINE')
    expect(older.stderr).toContain(`"node":">=${MIN_NODE_VERSION}"`)
    const current = await run('npm', ['ci', '--dry-run', '--offline', '--no-audit', '--no-fund'], {
      cwd: dir,
      env,
    })
    expect(current.code, current.stderr).toBe(0)
  })

  it('the README’s first command stops on an older Node.js with that one line, before npm does anything', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const block = readme.slice(readme.indexOf('```sh\n') + '```sh\n'.length)
    const first = block.slice(0, block.indexOf('\n')).replace(/\s+#.*$/, '')
    expect(first).toMatch(/^node bin\/check-node\.js && npm ci && /)
    // In a copy holding the check alone, with this Node as `node` and an `npm` that only says it ran.
    const dir = tempDir('iron-first-command')
    mkdirSync(join(dir, 'bin'))
    copyFileSync(join(ROOT, 'bin', 'check-node.js'), join(dir, 'bin', 'check-node.js'))
    const tools = join(dir, 'tools')
    mkdirSync(tools)
    symlinkSync(process.execPath, join(tools, 'node'))
    writeFileSync(join(tools, 'npm'), '#!/bin/sh\necho "npm $*"\nexit 1\n')
    chmodSync(join(tools, 'npm'), 0o755)
    const env = { ...process.env, PATH: `${tools}:${process.env.PATH}` }
    const older = await run('sh', ['-c', first], {
      cwd: dir,
      env: { ...env, NODE_OPTIONS: `--import=${olderNode('20.20.2')}` },
    })
    expect(older.code).toBe(1)
    expect(older.stdout).toBe('')
    expect(older.stderr).toMatch(NEEDED_LINE('20.20.2'))
    // On this Node.js the check says nothing and npm ci comes next.
    const current = await run('sh', ['-c', first], { cwd: dir, env })
    expect(current.stderr).toBe('')
    expect(current.stdout).toBe('npm ci\n')
  })

  it('the requirement is one version everywhere, and the README states it before its first command', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    expect(pkg.engines.node).toBe(`>=${MIN_NODE_VERSION}`)
    expect(pkg.scripts.prebuild).toBe('node bin/check-node.js')
    expect(readFileSync(join(ROOT, '.npmrc'), 'utf8')).toMatch(/^engine-strict=true$/m)
    expect(readFileSync(join(ROOT, 'bin/check-node.js'), 'utf8')).toContain(
      `const NEEDED = [${MIN_NODE_VERSION.replace('.', ', ')}]`,
    )
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const stated = readme.indexOf(`Node.js ${MIN_NODE_VERSION} or newer`)
    expect(stated).toBeGreaterThan(-1)
    expect(stated).toBeLessThan(readme.indexOf('```sh'))
  })
})
