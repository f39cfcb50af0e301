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
  runChild(mod, boot === undefined ? processHost() : workerHost(boot))
}
