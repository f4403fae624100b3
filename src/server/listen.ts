import { ExitCode, IronError } from '../core/errors.js'

/** Why `iron serve` could not listen, said so that the next step is plain. */
export async function serveListenError(
  error: NodeJS.ErrnoException,
  host: string,
  port: number,
): Promise<IronError> {
  const next = `iron serve --port ${port === 0 ? 8788 : port + 1}`
  if (error.code === 'EADDRINUSE') {
    const holder = await whoAnswers(host, port)
    const message =
      holder === 'serve'
        ? `Port ${port} on ${host} is taken by another iron serve`
        : holder === 'gateway'
          ? `Port ${port} on ${host} is taken by an iron gateway`
          : `Port ${port} on ${host} is taken by another program`
    return new IronError('PORT_IN_USE', message, {
      hint:
        holder === 'serve'
          ? `Use that one, or stop it first; or serve on another port: ${next}`
          : `Serve on another port: ${next}`,
      exitCode: ExitCode.failure,
      details: { host, port, holder },
    })
  }
  if (error.code === 'EACCES')
    return new IronError('PORT_NOT_ALLOWED', `This user may not listen on port ${port} of ${host}`, {
      hint: 'Ports below 1024 need privileges; use a higher one: iron serve --port 8787',
    })
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')
    return new IronError('INVALID_HOST', `${host} is not an address of this machine`, {
      hint: 'Listen on 127.0.0.1 (this machine only), or on an address of this machine with --tls-cert and --tls-key',
    })
  return new IronError(
    'SERVE_LISTEN_FAILED',
    `iron serve could not listen on ${host}:${port}: ${error.message}`,
    {
      cause: error,
    },
  )
}

/** Which iron, if any, answers on the port: iron serve's health route or a gateway's. */
async function whoAnswers(host: string, port: number): Promise<'serve' | 'gateway' | null> {
  const base = `http://${host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
  const probe = async (path: string) => {
    try {
      const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(1_000) })
      const body = (await response.json()) as { status?: unknown; store?: unknown; uptime_s?: unknown }
      return response.ok && body.status === 'ok' ? body : undefined
    } catch {
      return undefined
    }
  }
  if ((await probe('/api/health'))?.store !== undefined) return 'serve'
  if ((await probe('/_iron/health'))?.uptime_s !== undefined) return 'gateway'
  return null
}
