/**
 * When a process child starts from its bundle's V8 startup snapshot (`<bundle>.snapshot`): the
 * runtime, effect and msgpackr already loaded, the actor's module imported at start
 * (`snapshot-entry.cjs`; what the snapshot must redo per process: `internal/snapshot.ts`).
 *
 * A bundle's snapshot is built once its complete code cache exists — stage 1 of `<bundle>.v8cache`,
 * written by the first child that ran from the bundle when it exited cleanly (`load-bundle.cjs`) —
 * so that V8 compiles the snapshot from it and the snapshot holds the bytecode of a whole actor life
 * (boot, calls, teardown): without it, every actor would compile its teardown lazily. The spawn that
 * finds that cache and no snapshot builds it (`snapshotter.mjs` as a supervised process, ~0.5 s,
 * once per bundle and process whatever the outcome, unless that spawn is interrupted); until then,
 * and when the build fails, children run from the bundle and its code cache. A snapshot is ~4.6 MB on
 * disk (without Node's code cache of its built-in modules: `snapshotBlob.mjs`), kept and pruned
 * with its bundle (`bundleCache.ts`). `TROUPE_CHILD_SNAPSHOT=false` turns snapshots off.
 *
 * V8 refuses a snapshot (and a code cache) made under other V8 flags, so children given Node flags
 * (`execArgv`, `resourceLimits`) have their own: `<bundle>.<flags key>.snapshot`, built under
 * those flags from `<bundle>.<flags key>.v8cache` (the cache load-bundle.cjs writes for them; the
 * key is the same: `flagsKey`). A flag set Node cannot snapshot under fails its build once per
 * process; its children then run from the bundle.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Process from "@troupe/process/Process"
import { createHash } from "node:crypto"
import { closeSync, existsSync, openSync, readSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { defaultBundleCacheBounds } from "../../Bounds.js"
import { childSnapshot } from "../../TroupeConfig.js"
import * as BundleCache from "./bundleCache.js"

const snapshotterPath = join(dirname(fileURLToPath(import.meta.url)), "snapshotter.mjs")

/** Snapshots (their paths) this process built or tried to build. */
const tried = new Set<string>()

/**
 * The part of a bundle's code cache and snapshot names that stands for a child's Node `flags`:
 * `""` for none, else `.` and 8 hex digits of the SHA-1 of the flags joined by NUL (load-bundle.cjs
 * names its code cache the same way, from the child's `execArgv`).
 */
export const flagsKey = (flags: ReadonlyArray<string>): string =>
  flags.length === 0 ? "" : `.${createHash("sha1").update(flags.join("\0")).digest("hex").slice(0, 8)}`

/** The startup snapshot and the code cache of `bundle` for children with Node `flags`. */
const artifacts = (bundle: string, flags: ReadonlyArray<string>) => {
  const key = flagsKey(flags)
  return { blob: `${bundle}${key}.snapshot`, cache: `${bundle}${key}.v8cache` }
}

/** The stage byte of the code cache at `path` (after its 20-byte digest; load-bundle.cjs), if any. */
const cacheStage = (path: string): number | undefined => {
  let fd: number | undefined
  try {
    fd = openSync(path, "r")
    const head = Buffer.alloc(21)
    return readSync(fd, head, 0, 21, 0) === 21 ? head[20] : undefined
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** The stage of a code cache written when a child exited cleanly (`load-bundle.cjs` STAGE_EXIT). */
const STAGE_EXIT = 1

/**
 * Whether `bundle` (a `.cjs` bundle) has no startup snapshot for children with Node `flags` yet but
 * would get one once one such child has exited cleanly (snapshots on, none built or tried by this
 * process): what a caller that wants its children to start from the snapshot from the first timed
 * spawn on has to wait for.
 */
export const snapshotPending = (bundle: string, flags: ReadonlyArray<string> = []): boolean => {
  const { blob } = artifacts(bundle, flags)
  return Effect.runSync(childSnapshot) && !existsSync(blob) && !tried.has(blob)
}

/**
 * The snapshot of the `.cjs` bundle at `bundle` for children with Node `flags`, if they start
 * from it: it exists, or it is built now (see above); undefined otherwise. Never fails: without a
 * snapshot, children start from the bundle.
 */
export const snapshotFor = (bundle: string, flags: ReadonlyArray<string> = []): Effect.Effect<string | undefined> =>
  Effect.suspend(() => {
    const { blob, cache } = artifacts(bundle, flags)
    if (!Effect.runSync(childSnapshot)) return Effect.succeed(undefined)
    if (existsSync(blob)) return Effect.succeed(blob)
    if (tried.has(blob) || cacheStage(cache) !== STAGE_EXIT) return Effect.succeed(undefined)
    tried.add(blob)
    return Process.run({ command: process.execPath, args: [snapshotterPath, bundle, blob, cache, ...flags], cwd: dirname(bundle) }).pipe(
      Effect.flatMap((r) =>
        r.status._tag === "Exited" && r.status.code === 0 && existsSync(blob)
          // The cache grew: kept to its bounds now (its directory is the bundle's).
          ? Effect.as(Effect.sync(() => BundleCache.pruneQuietly(dirname(bundle), defaultBundleCacheBounds)), blob)
          : Effect.as(Effect.logDebug(`no startup snapshot for ${bundle} (${JSON.stringify(r.status)}): ${r.stderr.slice(-1000)}`), undefined)
      ),
      Effect.catchAll((e) => Effect.as(Effect.logDebug(`no startup snapshot for ${bundle}: ${e.message}`), undefined)),
      // The spawn was given up (its build killed with it): a later spawn tries again.
      Effect.onInterrupt(() => Effect.sync(() => tried.delete(blob)))
    )
  })
