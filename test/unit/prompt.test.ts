import { describe, expect, it } from 'vitest'
import { confirm } from '../../src/cli/prompt.js'
import { IronError } from '../../src/core/errors.js'

describe('confirm', () => {
  it('passes with --yes and, without a terminal, asks for --yes instead of waiting', async () => {
    await expect(confirm('Delete agent x?', true)).resolves.toBeUndefined()
    const error = await confirm('Delete agent x?', false).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IronError)
    expect((error as IronError).exitCode).toBe(2)
    expect((error as IronError).hint).toBe('Re-run with --yes to confirm')
  })
})
