/** What a service manager would run from a unit or plist iron printed: its command line and environment. */
export interface ServiceCommand {
  argv: string[]
  env: Record<string, string>
}

/** Split a systemd setting's value into words as systemd does: quotes, backslash escapes, `%%` and `$$`. */
function systemdWords(value: string, command: boolean): string[] {
  const words: string[] = []
  let i = 0
  while (i < value.length) {
    while (value[i] === ' ') i++
    if (i >= value.length) break
    let word = ''
    if (value[i] === '"') {
      i++
      while (value[i] !== '"') {
        if (i >= value.length) throw new Error(`unterminated quote in ${value}`)
        if (value[i] === '\\') i++
        word += value[i++]
      }
      i++
    } else {
      while (i < value.length && value[i] !== ' ') word += value[i++]
    }
    word = word.replaceAll('%%', '%')
    words.push(command ? word.replaceAll('$$', '$') : word)
  }
  return words
}

export function parseSystemdUnit(text: string): ServiceCommand & { envFile: string | undefined } {
  const lines = text.split('\n')
  const value = (key: string) =>
    lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1))
  const [exec] = value('ExecStart')
  if (!exec) throw new Error('no ExecStart')
  const env: Record<string, string> = {}
  for (const assignment of value('Environment').flatMap((v) => systemdWords(v, false))) {
    const eq = assignment.indexOf('=')
    env[assignment.slice(0, eq)] = assignment.slice(eq + 1)
  }
  const [envFile] = value('EnvironmentFile')
  return { argv: systemdWords(exec, true), env, envFile: envFile?.replace(/^-/, '').replaceAll('%%', '%') }
}

const unxml = (text: string) =>
  text.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&amp;', '&')

/** Check that the plist's tags nest and close (a well-formed document), then read its program and environment. */
export function parseLaunchdPlist(text: string): ServiceCommand & { keys: string[] } {
  const body = text
    .replace(/<\?xml[^>]*\?>/, '')
    .replace(/<!DOCTYPE[^>]*>/, '')
    .replace(/<!--[\s\S]*?-->/g, '')
  const stack: string[] = []
  for (const [, close, name, selfClosing] of body.matchAll(/<(\/?)([A-Za-z]+)[^>]*?(\/?)>/g)) {
    if (selfClosing) continue
    if (close) {
      if (stack.pop() !== name) throw new Error(`</${name}> closes nothing open`)
    } else stack.push(name!)
  }
  if (stack.length > 0) throw new Error(`unclosed: ${stack.join(', ')}`)
  if (/&(?!amp;|lt;|gt;|quot;|apos;)/.test(body)) throw new Error('an unescaped &')
  const section = (key: string, tag: string) => {
    const match = new RegExp(`<key>${key}</key>\\s*<${tag}>([\\s\\S]*?)</${tag}>`).exec(body)
    if (!match) throw new Error(`no ${key}`)
    return match[1]!
  }
  const argv = [...section('ProgramArguments', 'array').matchAll(/<string>([\s\S]*?)<\/string>/g)].map((m) =>
    unxml(m[1]!),
  )
  const env: Record<string, string> = {}
  for (const [, key, value] of section('EnvironmentVariables', 'dict').matchAll(
    /<key>([\s\S]*?)<\/key>\s*<string>([\s\S]*?)<\/string>/g,
  ))
    env[unxml(key!)] = unxml(value!)
  const keys = [...body.matchAll(/^ {2}<key>([^<]+)<\/key>/gm)].map((m) => m[1]!)
  return { argv, env, keys }
}
