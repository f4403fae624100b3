import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { homeEnv, runIron } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp.js'

const configLine = (stdout: string) =>
  stdout
    .split('\n')
    .find((line) => line.startsWith('Config\t'))!
    .split('\t')[1]!

describe('iron init', () => {
  it('does not list a config file it did not create, and lists it once it exists', async () => {
    const env = { ...process.env, ...homeEnv(tempDir('iron-init')) }
    const first = await runIron(['init'], { env })
    expect(first.code).toBe(0)
    const shown = configLine(first.stdout)
    expect(shown).toMatch(/config\.json \(not created: defaults apply until iron config set writes it\)$/)
    const path = shown.replace(/ \(not created.*$/, '')
    expect(existsSync(path)).toBe(false)
    expect(JSON.parse((await runIron(['init', '--json'], { env })).stdout)).toMatchObject({
      config_path: path,
      config_exists: false,
    })

    expect((await runIron(['config', 'set', 'gateway.port', '9100'], { env })).code).toBe(0)
    expect(existsSync(path)).toBe(true)
    expect(configLine((await runIron(['init'], { env })).stdout)).toBe(path)
  })
})
