import { describe, expect, it } from 'vitest'
import { IronError } from '../../src/core/errors.js'
import { formatDuration, formatRelative, parseDuration, parseTime, toIso } from '../../src/core/time.js'

const NOW = Date.parse('2026-06-15T12:00:00Z')

describe('time', () => {
  it('parses durations', () => {
    expect(parseDuration('30d')).toBe(30 * 86_400_000)
    expect(parseDuration('15m')).toBe(900_000)
    expect(parseDuration('2W')).toBe(14 * 86_400_000)
    expect(parseDuration('250ms')).toBe(250)
    expect(parseDuration('1h30m')).toBe(5_400_000)
    expect(parseDuration('1.5h')).toBe(5_400_000)
    expect(parseDuration(' 90 s ')).toBe(90_000)
    for (const bad of ['d', '1y', '-5m', '0s', '0', 's5', '1h-5m', '', '1e3'])
      expect(() => parseDuration(bad)).toThrow(IronError)
  })

  it('reads a number alone as seconds, wherever a length of time is asked for', () => {
    expect(parseDuration('20')).toBe(20_000)
    expect(parseDuration('0.5')).toBe(500)
    expect(parseDuration('0', 'drain timeout', { min: 0 })).toBe(0)
    const tooLong = (() => {
      try {
        parseDuration('250', '--interval', { min: 50, max: 10_000 })
      } catch (error) {
        return error as IronError
      }
    })()
    expect(tooLong).toMatchObject({ code: 'INVALID_DURATION', exitCode: 2 })
    expect(tooLong?.message).toBe("Invalid --interval '250': must be between 50ms and 10s")
    expect(tooLong?.hint).toBe('A number alone is seconds; for 250 milliseconds write 250ms')
    expect(() => parseDuration('20ms', '--interval', { min: 50 })).toThrow(/between 50ms and/)
  })

  it('parses points in time as UTC unless they carry an offset', () => {
    expect(toIso(parseTime('2026-01-31', 'since', NOW))).toBe('2026-01-31T00:00:00.000Z')
    expect(toIso(parseTime('2026-01-31T09:30:00', 'since', NOW))).toBe('2026-01-31T09:30:00.000Z')
    expect(toIso(parseTime('2026-01-31T09:30:00+02:00', 'since', NOW))).toBe('2026-01-31T07:30:00.000Z')
    expect(parseTime('7d', 'since', NOW)).toBe(NOW - 7 * 86_400_000)
    expect(parseTime('now', 'until', NOW)).toBe(NOW)
    expect(parseTime('1h30m', 'since', NOW)).toBe(NOW - 5_400_000)
    for (const bad of ['yesterday', '2026-13-01', '31/01/2026', '']) {
      expect(() => parseTime(bad, 'since', NOW)).toThrow(/expected a date/)
    }
    // As a point in time a number alone could be seconds, days or an epoch: refused, with the forms to type.
    expect(() => parseTime('7', 'since', NOW)).toThrow(/a number alone is ambiguous/)
  })

  it('formats relative times and durations for people', () => {
    expect(formatRelative(NOW - 10_000, NOW)).toBe('just now')
    expect(formatRelative(NOW - 3 * 60_000, NOW)).toBe('3m ago')
    expect(formatRelative(NOW + 2 * 3_600_000, NOW)).toBe('in 2h')
    expect(formatRelative(NOW - 3 * 86_400_000, NOW)).toBe('3d ago')
    expect(formatDuration(250)).toBe('250ms')
    expect(formatDuration(200_000)).toBe('3m 20s')
    expect(formatDuration(100_000_000)).toBe('1d 3h')
  })
})
