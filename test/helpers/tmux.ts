import { execFileSync } from 'node:child_process'

/** tmux drives the real binary in a real terminal; installed here when the machine lacks it. */
export function ensureTmux(): void {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' })
  } catch {
    execFileSync(
      'sh',
      [
        '-c',
        'apt-get install -y tmux >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y tmux >/dev/null 2>&1)',
      ],
      { stdio: 'ignore', timeout: 180_000 },
    )
    execFileSync('tmux', ['-V'], { stdio: 'ignore' })
  }
}

export const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' })

/**
 * A detached tmux session of `columns`×`rows` running `argv` with `env` (each value quoted for the shell);
 * the pane stays open a while after the command ends, so its last screen can be read.
 */
export function tmuxSession(
  name: string,
  size: { columns: number; rows: number },
  argv: string[],
  env: Record<string, string>,
) {
  const command = argv.map((a) => `'${a}'`).join(' ')
  const envs = Object.entries(env)
    .map(([k, v]) => `${k}='${v}'`)
    .join(' ')
  tmux(
    'new-session',
    '-d',
    '-s',
    name,
    '-x',
    String(size.columns),
    '-y',
    String(size.rows),
    `env ${envs} ${command}; sleep 30`,
  )
  const screen = () => tmux('capture-pane', '-p', '-t', name)
  return {
    screen,
    keys: (...keys: string[]) => tmux('send-keys', '-t', name, ...keys),
    /** The screen once `check` holds (fails after 15 s, showing the last screen). */
    async waitFor(check: (text: string) => boolean, what: string): Promise<string> {
      const end = Date.now() + 15_000
      for (;;) {
        const text = screen()
        if (check(text)) return text
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${text}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    },
    kill: () => {
      try {
        tmux('kill-session', '-t', name)
      } catch {}
    },
  }
}
