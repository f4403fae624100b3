import { homedir } from 'node:os'
import { join } from 'node:path'

export type Env = Readonly<Record<string, string | undefined>>

export interface IronDirs {
  /** Where config.json and, without a keychain, the credentials file live (XDG config dir). */
  configDir: string
  /** Where the store lives by default (XDG data dir). */
  dataDir: string
}

/** XDG directories with iron's `IRON_CONFIG_DIR` / `IRON_DATA_DIR` overrides (the same rules oclif uses). */
export function resolveDirs(env: Env = process.env): IronDirs {
  const home = env.HOME || homedir()
  return {
    configDir: env.IRON_CONFIG_DIR || join(env.XDG_CONFIG_HOME || join(home, '.config'), 'iron'),
    dataDir: env.IRON_DATA_DIR || join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'iron'),
  }
}

export const CONFIG_FILE = 'config.json'
export const CREDENTIALS_FILE = 'credentials.json'
export const STORE_FILE = 'iron.db'
