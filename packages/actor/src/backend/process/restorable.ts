/**
 * An environment variable a spawn changes for the child's `exec` only (malloc.ts: `GLIBC_TUNABLES`;
 * prefault.ts: `LD_PRELOAD`), with a marker variable recording what it was, so that the child
 * puts it back at boot (host.ts) and what the actor starts inherits the environment it was given.
 *
 * @internal
 */

/** Set `name` in `env` to `value`, recording its value before in `marker` (its JSON; `null`: unset). Mutates `env`. */
export const setRestorable = (env: Record<string, string>, name: string, marker: string, value: string): void => {
  env[marker] = JSON.stringify(env[name] ?? null)
  env[name] = value
}

/**
 * In the child, at boot: `name` back to what `marker` recorded (unset if it was), and the marker
 * removed. Nothing to do without the marker; a marker that is not JSON leaves `name` as it is.
 */
export const restore = (name: string, marker: string, env: NodeJS.ProcessEnv = process.env): void => {
  const recorded = env[marker]
  if (recorded === undefined) return
  delete env[marker]
  let was: unknown = null
  try {
    was = JSON.parse(recorded)
  } catch {
    return
  }
  if (typeof was === "string") env[name] = was
  else delete env[name]
}
