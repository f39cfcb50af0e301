/**
 * The entry of every child actor's code (the cached bundle's, and the loader's): pick the host —
 * a process of its own, or a worker thread — and run the shared child runtime.
 *
 * @internal
 */
import { isMainThread, workerData } from "node:worker_threads"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import { bundleBoot, main as runChild } from "../internal/child.js"
import { mapStack, useBundleSourceMap } from "../internal/stackmap.js"
// Loaded for its effect in a V8 startup snapshot build (see there); `snapshotCheck` for the bundler.
export { snapshotCheck } from "../internal/snapshot.js"
import { prewarm } from "./forkserver/prewarm.js"
import { processHost } from "./process/host.js"
import { bootOf } from "./worker/boot.js"
import { workerHost } from "./worker/host.js"

export const main = (mod: Record<string, unknown>): void => {
  const boot = isMainThread ? undefined : bootOf(workerData)
  if (boot !== undefined) return runChild(mod, workerHost(boot))
  // A forkserver's warm child (forkserver/warm-entry.cjs): loaded, it waits for its spawn spec.
  const warm = (globalThis as Record<symbol, unknown>)[Symbol.for("troupe.forkserver.spec")] as Promise<void> | undefined
  if (warm !== undefined) {
    // Prewarm only a child that waits: one started for a spawn already asked for (no warm child
    // was left) finds its spec on fd 3 in the event loop's first poll, before `setImmediate`.
    let warming: Fiber.RuntimeFiber<void> | undefined
    let asked = false
    setImmediate(() => {
      if (asked) return
      warming = prewarm()
      // Visible in ps (and /proc/<pid>/cmdline): this child is prewarmed and waits for its spec.
      warming.addObserver(() => {
        if (!asked) process.title = "troupe[warm]"
      })
    })
    void warm.then(() => {
      asked = true
      warming?.unsafeInterruptAsFork(FiberId.none)
      runChild(mod, processHost())
    })
  } else runChild(mod, processHost())
}

/** At most this much of a load failure's report goes to stderr (UTF-16 code units, `string.length`; its parent keeps a tail of ~4 KB). */
const loadFailureMaxBytes = 4096

/**
 * The actor's module threw while it loaded (its top-level code): say so on stderr, in a few lines
 * — the error's stack, its frames mapped to the sources when this runs from a bundle — and exit
 * 1. The parent's boot then fails with an `ActorFailure` whose stderr tail is that report. (Left
 * uncaught, Node printed the source line it was thrown from first: in a minified bundle, one line
 * of several KB.) In a worker, the error stays uncaught (its stack mapped): the parent gets it
 * from the Worker's 'error' event.
 */
export const moduleLoadFailed = (error: unknown): undefined => {
  const bundle = bundleBoot()?.bundle
  if (bundle !== undefined) useBundleSourceMap(bundle)
  if (!isMainThread) {
    // A worker: left uncaught, the error itself reaches the parent (the Worker's 'error' event).
    if (error instanceof Error && typeof error.stack === "string") error.stack = mapStack(error.stack)
    process.nextTick(() => {
      throw error
    })
    return undefined
  }
  const stack = error instanceof Error && typeof error.stack === "string" ? mapStack(error.stack) : String(error)
  const report = `troupe child: the actor's module threw while it loaded: ${stack}`
  process.stderr.write(`${report.length > loadFailureMaxBytes ? `${report.slice(0, loadFailureMaxBytes)}…` : report}\n`)
  return process.exit(1)
}
