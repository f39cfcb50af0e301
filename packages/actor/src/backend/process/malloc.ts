/**
 * A process child's malloc, told to back its large allocations with transparent huge pages: glibc's
 * tunable `glibc.malloc.hugetlb=1` (glibc ≥ 2.35, `GLIBC_TUNABLES`, read once at exec) makes
 * malloc `madvise(MADV_HUGEPAGE)` what it maps, so the kernel can fault 2 MiB at a time where the
 * machine's THP mode is `madvise` (`/sys/kernel/mm/transparent_hugepage/enabled`).
 *
 * Why: a child started from a startup snapshot reads the blob (~7.5 MB then; ~4.6 MB since
 * snapshotBlob.mjs) into a zeroed buffer and copies V8's part of it into another
 * (`node::SnapshotData::FromFile`, `FromBlob`) before V8 deserializes it: three passes over fresh
 * memory, 4 KiB page faults throughout. Where a page fault is dear (measured on these VMs: ~11 µs
 * each), that was a quarter of a child's boot. With the tunable: 8,925 → ~5,600 faults and 0.19 →
 * 0.13 s from exec to exit (the demo's hasher snapshot, `--troupe-snapshot-check`), and the demo's
 * 2-actor spawn 251 → 210 ms (medians of 5, interleaved). RSS stays within 1 MB. No effect with THP
 * `never` or `always`, or under another libc (the variable is then ignored).
 *
 * The child gets the tunable only where the environment does not set a `glibc.malloc.hugetlb` of
 * its own, and restores the variable as it was at boot (`restore`), so what the actor starts
 * inherits the environment it was given. `TROUPE_CHILD_HUGEPAGES=false` turns this off
 * (`TroupeConfig.childHugepages`).
 *
 * @internal
 */
import { restore as restoreRecorded, setRestorable } from "./restorable.js"

/** The variable glibc reads its tunables from. */
const tunablesVar = "GLIBC_TUNABLES"
/** What the child restores `GLIBC_TUNABLES` to: the JSON of its value before (`null`: unset). */
export const restoreVar = "TROUPE_GLIBC_TUNABLES_WAS"
const hugetlb = "glibc.malloc.hugetlb=1"

/**
 * `env` (a child's whole environment, as `actorEnv` builds it) with `glibc.malloc.hugetlb=1`
 * appended to `GLIBC_TUNABLES` (and `TROUPE_GLIBC_TUNABLES_WAS` for `restore`), unless it sets
 * that tunable already. Mutates and returns `env`.
 */
export const withHugepages = (env: Record<string, string>): Record<string, string> => {
  const was = env[tunablesVar]
  if (was !== undefined && was.includes("glibc.malloc.hugetlb")) return env
  setRestorable(env, tunablesVar, restoreVar, was === undefined || was === "" ? hugetlb : `${was}:${hugetlb}`)
  return env
}

/**
 * In the child, at boot: `GLIBC_TUNABLES` back to what `withHugepages` found (unset if it was), and
 * the marker removed. Nothing to do in a child started without it.
 */
export const restore = (env: NodeJS.ProcessEnv = process.env): void => restoreRecorded(tunablesVar, restoreVar, env)
