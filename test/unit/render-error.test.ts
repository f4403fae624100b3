import { describe, expect, it } from 'vitest'
import { debugStack, renderErrorText, toIronError } from '../../src/cli/render-error.js'
import { IronError, notFound, usageError } from '../../src/core/errors.js'

const plain = { red: (s: string) => s, dim: (s: string) => s }

describe('error rendering', () => {
  it('keeps IronErrors and renders them as two lines', () => {
    const error = notFound('AGENT_NOT_FOUND', "No agent named 'x'", 'List agents with: iron agents list')
    expect(toIronError(error)).toBe(error)
    expect(renderErrorText(error, plain)).toBe(
      "Error (AGENT_NOT_FOUND): No agent named 'x'\nTry this: List agents with: iron agents list\n",
    )
    expect(error.toJSON()).toEqual({
      code: 'AGENT_NOT_FOUND',
      message: "No agent named 'x'",
      hint: 'List agents with: iron agents list',
      exit_code: 3,
    })
  })

  it('escapes control characters in the message and the hint, not in its own colours', () => {
    const error = notFound(
      'AGENT_NOT_FOUND',
      "No agent named 'x\u001b]0;HACKED\u0007\u001b[2J'",
      'Check \u009b2J\r\nthe name',
    )
    const red = { red: (s: string) => `\u001b[31m${s}\u001b[39m`, dim: (s: string) => s }
    const text = renderErrorText(error, red)
    expect(text).toBe(
      "\u001b[31mError (AGENT_NOT_FOUND):\u001b[39m No agent named 'x\\x1b]0;HACKED\\x07\\x1b[2J'\n" +
        'Try this: Check \\x9b2J\\r\\nthe name\n',
    )
  })

  it('turns oclif parse errors into usage errors pointing at the command help', () => {
    const parse = Object.assign(new Error('Nonexistent flag: --nope\nSee more help with --help'), {
      oclif: { exit: 2 },
    })
    const error = toIronError(parse, 'config:list')
    expect(error).toMatchObject({ code: 'USAGE', exitCode: 2, message: 'Nonexistent flag: --nope' })
    expect(error.hint).toBe('See: iron config list --help')
  })

  it('says a missing argument in one line, and mentions multi-value flags only when one took it', async () => {
    const { Args, Flags } = await import('@oclif/core')
    const { parse } = await import('@oclif/core/parser')
    const missing = (argv: string[]) =>
      parse(argv, {
        args: { name: Args.string({ description: 'Agent name', required: true }) },
        flags: { model: Flags.string({ multiple: true }), yes: Flags.boolean() },
      }).then(
        () => expect.unreachable(),
        (error: unknown) => toIronError(error, 'agents:create'),
      )
    const bare = await missing(['--yes'])
    expect(bare).toMatchObject({ code: 'USAGE', exitCode: 2 })
    expect(bare.message).toBe('Missing the required argument NAME (Agent name)')
    expect(bare.hint).toBe('iron agents create NAME [flags] (see: iron agents create --help)')
    const swallowed = await missing(['--model', 'gpt-4o', 'bot'])
    expect(swallowed.message).toBe('Missing the required argument NAME (Agent name)')
    expect(swallowed.hint).toBe(
      '--model takes several values, so put NAME before it: iron agents create NAME [flags]',
    )
  })

  it("keeps a flag parser's own error as it is, without oclif's wrapping", () => {
    const own = usageError(
      'INVALID_DURATION',
      "Invalid --duration '2x': expected a length of time",
      'For example 90s',
    )
    own.message = `Parsing --duration \n\t${own.message}\nSee more help with --help`
    expect(toIronError(own)).toMatchObject({
      code: 'INVALID_DURATION',
      message: "Invalid --duration '2x': expected a length of time",
      hint: 'For example 90s',
      exitCode: 2,
    })
  })

  it('reports anything else as a bug, with the original stack kept for IRON_DEBUG=1', () => {
    const bug = new TypeError('x is undefined')
    const error = toIronError(bug)
    expect(error).toBeInstanceOf(IronError)
    expect(error).toMatchObject({ code: 'INTERNAL', exitCode: 1 })
    expect(error.hint).toContain('IRON_DEBUG=1')
    expect(debugStack(error)).toBe(bug.stack)
  })
})
