/**
 * `postgres://user:secret@host/db?password=…` → `postgres://user@host/db`. The user info ends at the
 * authority's last `@`, so a password holding an unescaped `@` goes too.
 */
export function withoutPassword(url: string): string {
  return url
    .replace(/^(postgres(?:ql)?:\/\/)([^/?#]*)@/i, (_, scheme: string, userinfo: string) => {
      const user = userinfo.split(':')[0] ?? ''
      return user ? `${scheme}${user}@` : scheme
    })
    .replace(/([?&])password=[^&#]*&?/gi, '$1')
    .replace(/[?&](#|$)/, '$1')
}
