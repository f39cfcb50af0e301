/**
 * The private directory of a root's UDS socket files: `<tmpdir>/troupe-<uid>/<pid>-<id>`, mode
 * 0700 under a per-user base that must be ours and not writable by others, removed when the
 * root's scope closes (each socket file is 0600). Creating one also sweeps directories left by roots
 * that were killed (SIGKILL skips their cleanup; tractor issue #454): entries whose pid is dead
 * and that are older than a minute (so the children of a just-killed root, still tearing down,
 * keep their socket files).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Liveness from "@troupe/process/Liveness"
import { randomUUID } from "node:crypto"
import { lstatSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { TransportError } from "../Errors.js"

/** How old a dead root's directory must be before a sweep removes it (ms). */
const STALE_AFTER_MS = 60_000

const sweepStale = (base: string): void => {
  let entries: Array<string>
  try {
    entries = readdirSync(base)
  } catch {
    return
  }
  const cutoff = Date.now() - STALE_AFTER_MS
  for (const name of entries) {
    const pid = Number(name.split("-")[0])
    if (!Number.isInteger(pid) || pid <= 0 || Liveness.isAlive(pid)) continue
    try {
      if (statSync(`${base}/${name}`).mtimeMs < cutoff) rmSync(`${base}/${name}`, { recursive: true, force: true })
    } catch {
      // raced with another sweeper
    }
  }
}

/**
 * The per-user base directory: created 0700, and refused when someone else owns it or it is
 * writable by others (another user could then replace our sockets).
 */
const checkedBase = (base: string, uid: number): TransportError | undefined => {
  try {
    mkdirSync(base, { recursive: true, mode: 0o700 })
    const st = lstatSync(base)
    if (!st.isDirectory()) return new TransportError({ address: base, reason: "not a directory" })
    if (st.uid !== uid) return new TransportError({ address: base, reason: `owned by uid ${st.uid}, not ${uid}: refusing to use it` })
    if ((st.mode & 0o022) !== 0) return new TransportError({ address: base, reason: `mode ${(st.mode & 0o777).toString(8)} lets others write: refusing to use it` })
    return undefined
  } catch (e) {
    return new TransportError({ address: base, reason: String(e) })
  }
}

/** A fresh private socket directory for the current scope. */
export const privateSocketDir: Effect.Effect<string, TransportError, Scope.Scope> = Effect.suspend(() => {
  const uid = typeof process.getuid === "function" ? process.getuid() : 0
  const base = `${tmpdir()}/troupe-${uid}`
  const refused = checkedBase(base, uid)
  if (refused !== undefined) return Effect.fail(refused)
  sweepStale(base)
  const dir = `${base}/${process.pid}-${randomUUID().slice(0, 8)}`
  return Effect.as(
    Effect.acquireRelease(
      Effect.try({
        try: () => mkdirSync(dir, { recursive: true, mode: 0o700 }),
        catch: (e) => new TransportError({ address: dir, reason: String(e) })
      }),
      () => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    ),
    dir
  )
})
