import { Flags, type Interfaces } from '@oclif/core'
import { type DurationBounds, parseDuration } from '../core/time.js'

interface DurationFlagOptions {
  description: string
  /** Default as people write it (`10s`), shown in --help. */
  default?: string
  min?: number
  max?: number
}

/**
 * A flag that takes a length of time (`90s`, `15m`, `1h30m`, `250ms`, or a bare number of seconds) and
 * gives milliseconds; every duration flag uses it, so all of them read the same way.
 */
export function durationFlag(
  options: DurationFlagOptions & { default: string },
): Interfaces.OptionFlag<number>
export function durationFlag(options: DurationFlagOptions): Interfaces.OptionFlag<number | undefined>
export function durationFlag(options: DurationFlagOptions) {
  const bounds: DurationBounds = { min: options.min, max: options.max }
  const description = options.description
  const helpValue = '<duration>'
  const parse = (input: string, name: string) => Promise.resolve(parseDuration(input, `--${name}`, bounds))
  if (options.default === undefined)
    return Flags.custom<number>({
      description,
      helpValue,
      parse: (input, _, flag) => parse(input, flag.name),
    })()
  return Flags.custom<number>({
    description,
    helpValue,
    default: parseDuration(options.default, 'default', bounds),
    defaultHelp: async () => options.default,
    parse: (input, _, flag) => parse(input, flag.name),
  })()
}
