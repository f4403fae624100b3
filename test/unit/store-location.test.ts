import { describe, expect, it } from 'vitest'
import { storeLocation, withoutPassword } from '../../src/store/location.js'

describe('storeLocation', () => {
  it('takes postgres:// and postgresql:// URLs for PostgreSQL, anything else for a SQLite path', () => {
    expect(storeLocation('/var/lib/iron/iron.db')).toEqual({ kind: 'sqlite', path: '/var/lib/iron/iron.db' })
    expect(storeLocation('./postgres.db')).toEqual({ kind: 'sqlite', path: './postgres.db' })
    expect(storeLocation('postgres://iron:pw@db:5432/iron')).toEqual({
      kind: 'postgres',
      url: 'postgres://iron:pw@db:5432/iron',
      safeUrl: 'postgres://iron@db:5432/iron',
    })
    expect(storeLocation('PostgreSQL://db/iron')).toMatchObject({
      kind: 'postgres',
      safeUrl: 'PostgreSQL://db/iron',
    })
  })
})

describe('withoutPassword', () => {
  it.each([
    ['postgres://iron:secret@db:5432/iron', 'postgres://iron@db:5432/iron'],
    ['postgres://iron@db/iron', 'postgres://iron@db/iron'],
    ['postgres://db/iron', 'postgres://db/iron'],
    ['postgres://:secret@db/iron', 'postgres://db/iron'],
    ['postgres://iron:se@cr:et@db/iron', 'postgres://iron@db/iron'],
    ['postgresql://iron:secret@a:5432,b:5433/iron', 'postgresql://iron@a:5432,b:5433/iron'],
    ['postgres://iron@db/iron?password=secret', 'postgres://iron@db/iron'],
    ['postgres://iron@db/iron?sslmode=require&password=secret', 'postgres://iron@db/iron?sslmode=require'],
    ['postgres://iron@db/iron?password=secret&sslmode=require', 'postgres://iron@db/iron?sslmode=require'],
  ])('%s → %s', (url, safe) => {
    expect(withoutPassword(url)).toBe(safe)
    expect(withoutPassword(url)).not.toContain('secret')
  })
})
