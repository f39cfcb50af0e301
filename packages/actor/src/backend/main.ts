/**
 * The entry of every child actor's code (the cached bundle's, and the loader's): pick the host —
 * a process of its own, or a worker thread — and run the shared child runtime.
 *
 * @internal
 */
import { isMainThread, workerData } from "node:worker_threads"
import { main as runChild } from "../internal/child.js"
import { processHost } from "./process/host.js"
import { bootOf } from "./worker/boot.js"
import { workerHost } from "./worker/host.js"

export const main = (mod: Record<string, unknown>): void => {
  const boot = isMainThread ? undefined : bootOf(workerData)
  if (boot !== undefined) return runChild(mod, workerHost(boot))
  // A forkserver's warm child (forkserver/warm-entry.cjs): loaded, it waits for its spawn spec.
  const warm = (globalThis as Record<symbol, unknown>)[Symbol.for("troupe.forkserver.spec")] as Promise<void> | undefined
  if (warm !== undefined) void warm.then(() => runChild(mod, processHost()))
  else runChild(mod, processHost())
}
