/**
 * A process child's memory, faulted in a range at a time: `LD_PRELOAD` of `@troupe/process`'s
 * `troupe_prefault.node` (native/troupe_prefault.c), which has the kernel populate each anonymous
 * private mapping of 64 KiB to 4 MiB as it is mapped or made writable
 * (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14), not one 4 KiB page fault at a time.
 *
 * Why: a child started from its startup snapshot writes its whole deserialized V8 heap into fresh
 * pages (V8 commits 256 KiB at a time). Where a page fault is dear (measured on these VMs: ~11 µs
 * each), page faults are a third of a child's boot. With the object, exec to exit of the demo's
 * hasher snapshot (`--troupe-snapshot-check`) 114 → 101 ms of CPU, page faults ~5,000 → ~2,700
 * (medians of 20, the two alternating), RSS unchanged (53 MB): the pages populated are those the
 * heap writes anyway. The demo's spawn of 2 actors: 174 → 163 ms (medians of 8, interleaved with
 * `TROUPE_CHILD_PREFAULT=false`).
 *
 * The child gets it only when the addon was built (and this is Linux); the object is put first in
 * `LD_PRELOAD`, before what the environment preloads already. The child restores the variable as
 * it was at boot (`restore`), so what the actor starts, Node or not, inherits the environment it
 * was given and never this object. `TROUPE_CHILD_PREFAULT=false` turns this off
 * (`TroupeConfig.childPrefault`).
 *
 * @internal
 */
import { prefaultPath } from "@troupe/process/Native"
import { restore as restoreRecorded, setRestorable } from "./restorable.js"

/** The variable the dynamic loader reads its preloads from. */
const preloadVar = "LD_PRELOAD"
/** What the child restores `LD_PRELOAD` to: the JSON of its value before (`null`: unset). */
export const restoreVar = "TROUPE_LD_PRELOAD_WAS"

/**
 * `env` (a child's whole environment, as `actorEnv` builds it) with `troupe_prefault.node` first
 * in `LD_PRELOAD` (and `TROUPE_LD_PRELOAD_WAS` for `restore`), when the object exists. Mutates and
 * returns `env`. `path`: the object (default: `@troupe/process`'s, if built).
 */
export const withPrefault = (env: Record<string, string>, path: string | undefined = prefaultPath()): Record<string, string> => {
  if (path === undefined) return env
  const was = env[preloadVar]
  setRestorable(env, preloadVar, restoreVar, was === undefined || was.trim() === "" ? path : `${path}:${was}`)
  return env
}

/**
 * In the child, at boot: `LD_PRELOAD` back to what `withPrefault` found (unset if it was), and the
 * marker removed. The object stays loaded in this process; nothing to do in a child started
 * without it.
 */
export const restore = (env: NodeJS.ProcessEnv = process.env): void => restoreRecorded(preloadVar, restoreVar, env)
