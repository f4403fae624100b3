import { join } from 'node:path'
import type { IronConfig } from '../config/config.js'

export type ServiceKind = 'systemd' | 'launchd'
export const SERVICE_KINDS: readonly ServiceKind[] = ['systemd', 'launchd']

/** What the service runs: this gateway, as `iron gateway start` would run it now. */
export interface GatewayServiceSpec {
  /** Absolute paths of the Node.js that runs iron now and of iron's bin/run.js (a service has no PATH of yours). */
  node: string
  bin: string
  /** `gateway start` and its flags. */
  args: readonly string[]
  /** Settings the service needs to see the same config, store and registry: no secrets. */
  env: Readonly<Record<string, string>>
  /** How long the manager lets it drain after SIGTERM before it kills it. */
  stopTimeoutMs: number
  /** iron's config dir (for the optional environment file) and the user's home (launchd's logs). */
  configDir: string
  home: string
}

export interface ServiceFile {
  kind: ServiceKind
  /** Where it goes, and the commands that load it. */
  path: string
  install: string[]
  content: string
}

const LABEL = 'iron.gateway'
const UNIT = 'iron-gateway'
/** An optional 0600 file of `KEY=value` lines the systemd unit reads: where IRON_MASTER_KEY may go. */
export const SERVICE_ENV_FILE = 'gateway.env'

/** A systemd user unit or a launchd agent that runs the gateway, restarts it if it fails, and stops it with SIGTERM. */
export function gatewayService(kind: ServiceKind, spec: GatewayServiceSpec): ServiceFile {
  return kind === 'systemd' ? systemdUnit(spec) : launchdAgent(spec)
}

function systemdUnit(spec: GatewayServiceSpec): ServiceFile {
  const envFile = join(spec.configDir, SERVICE_ENV_FILE)
  const lines = [
    '# iron gateway as a systemd user service (iron gateway start --print-service systemd).',
    '# No secrets here: provider keys stay encrypted in the store and the master key in the keychain or the',
    `# credentials file. If the master key comes from IRON_MASTER_KEY, put that line in ${envFile} (chmod 600).`,
    '[Unit]',
    'Description=iron gateway: budgets, firewall and audit for LLM traffic',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${[spec.node, spec.bin, ...spec.args].map(commandWord).join(' ')}`,
    ...Object.entries(spec.env).map(([k, v]) => `Environment=${quoted(`${k}=${v}`)}`),
    `EnvironmentFile=-${envFile.replaceAll('%', '%%')}`,
    // SIGTERM is a graceful stop: requests in flight finish, leases go back, writes are flushed.
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${Math.ceil(spec.stopTimeoutMs / 1000)}`,
    'Restart=on-failure',
    'RestartSec=2',
    'UMask=0077',
    'NoNewPrivileges=true',
    '',
    '[Install]',
    'WantedBy=default.target',
  ]
  return {
    kind: 'systemd',
    path: join(spec.home, '.config', 'systemd', 'user', `${UNIT}.service`),
    install: [
      'systemctl --user daemon-reload',
      `systemctl --user enable --now ${UNIT}`,
      'loginctl enable-linger "$USER"   # keeps it running when you log out',
    ],
    content: `${lines.join('\n')}\n`,
  }
}

function launchdAgent(spec: GatewayServiceSpec): ServiceFile {
  const log = join(spec.home, 'Library', 'Logs', 'iron-gateway.log')
  const string = (value: string) => `<string>${xml(value)}</string>`
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<!-- iron gateway as a launchd agent, as iron gateway start prints it. No secrets here: provider keys',
    '     stay encrypted in the store and the master key in the keychain or the credentials file. -->',
    '<plist version="1.0">',
    '<dict>',
    '  <key>Label</key>',
    `  ${string(LABEL)}`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...[spec.node, spec.bin, ...spec.args].map((arg) => `    ${string(arg)}`),
    '  </array>',
    '  <key>EnvironmentVariables</key>',
    '  <dict>',
    ...Object.entries(spec.env).flatMap(([k, v]) => [`    <key>${xml(k)}</key>`, `    ${string(v)}`]),
    '  </dict>',
    '  <key>RunAtLoad</key>',
    '  <true/>',
    '  <key>KeepAlive</key>',
    '  <dict>',
    '    <key>SuccessfulExit</key>',
    '    <false/>',
    '  </dict>',
    '  <key>ExitTimeOut</key>',
    `  <integer>${Math.ceil(spec.stopTimeoutMs / 1000)}</integer>`,
    '  <key>Umask</key>',
    '  <integer>63</integer>',
    '  <key>StandardOutPath</key>',
    `  ${string(log)}`,
    '  <key>StandardErrorPath</key>',
    `  ${string(log)}`,
    '</dict>',
    '</plist>',
  ]
  return {
    kind: 'launchd',
    path: join(spec.home, 'Library', 'LaunchAgents', `${LABEL}.plist`),
    install: [
      `launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/${LABEL}.plist`,
      `launchctl bootout gui/$(id -u)/${LABEL}   # to stop it (SIGTERM: requests in flight finish)`,
    ],
    content: `${lines.join('\n')}\n`,
  }
}

/** One word of a systemd unit setting: quoted when needed, and `%` (a specifier) kept as it is. */
function quoted(value: string): string {
  const escaped = value.replaceAll('%', '%%')
  if (/^[\w@%+=:,./-]+$/.test(escaped)) return escaped
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`
}

/** A word of ExecStart, where `$` would also expand a variable. */
const commandWord = (value: string) => quoted(value.replaceAll('$', '$$$$'))

const xml = (value: string) =>
  value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')

/**
 * The service as `iron gateway start` would run now: the same Node.js and iron, the store pinned (`--db`),
 * the config and data dirs pinned (so its config, registry and `iron gateway status` are the ones you see),
 * settings you gave in the environment carried over; flags given now are kept. Never a secret.
 */
export function gatewayServiceSpec(
  config: IronConfig,
  run: {
    node: string
    bin: string
    /** The local store, or (a team gateway) the iron serve it leases budgets from. */
    db?: string
    server?: string
    home: string
    drainMs: number
    host?: string
    port?: number
    maxBody?: number
  },
): GatewayServiceSpec {
  const args = [
    'gateway',
    'start',
    ...(run.server ? ['--server', run.server] : ['--db', run.db ?? '']),
    '--drain-timeout',
    `${Math.ceil(run.drainMs / 1000)}s`,
  ]
  if (run.host !== undefined) args.push('--host', run.host)
  if (run.port !== undefined) args.push('--port', String(run.port))
  if (run.maxBody !== undefined) args.push('--max-body', String(run.maxBody))
  const env: Record<string, string> = {
    IRON_CONFIG_DIR: config.dirs.configDir,
    IRON_DATA_DIR: config.dirs.dataDir,
  }
  for (const entry of config.list())
    if (entry.source === 'env' && entry.key !== 'db' && entry.value !== undefined)
      env[entry.env] = String(entry.value)
  return {
    node: run.node,
    bin: run.bin,
    args,
    env,
    // Draining, returning leases and flushing, with room to spare before the manager kills it.
    stopTimeoutMs: run.drainMs + 10_000,
    configDir: config.dirs.configDir,
    home: run.home,
  }
}

/** Said when the master key comes from IRON_MASTER_KEY, which a service file must not hold. */
export function masterKeyNote(kind: ServiceKind, configDir: string): string {
  return kind === 'systemd'
    ? `IRON_MASTER_KEY is set here but is not written into the unit (it is a secret): put the line IRON_MASTER_KEY=… in ${join(configDir, SERVICE_ENV_FILE)} (chmod 600), which the unit reads`
    : 'IRON_MASTER_KEY is set here but is not written into the agent (it is a secret): the service reads the master key from the keychain, or from the credentials file with IRON_CREDENTIAL_STORE=file'
}
