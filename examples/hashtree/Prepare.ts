/**
 * Before a timed run on the process backend: the Hasher's child entry (its esbuild bundle, and the
 * V8 startup snapshot its actors start from), built once per install (and after a change to the
 * actor's code) and reused after. `pnpm demo` runs this in a process of its own
 * (`prepareInNewProcess`, examples/hashtree/prepare-main.ts), so its root starts its timed actors
 * with nothing warmed up, as on every later run.
 *
 * A snapshot is built from the code cache that one actor's clean exit writes (the bytecode of its
 * whole life: boot, a call, teardown), so while one is pending `prepareActors` starts one actor, has
 * it walk the tree's top directory (budget 0) and ends it, then builds the snapshot: at most 3
 * lives (an exit that is not clean writes no cache).
 */
import * as Effect from "effect/Effect"
import { Nursery, type Troupe } from "@troupe/actor"
import * as ProcessBackend from "@troupe/actor/backend/process/ProcessBackend"
import { HasherLive } from "./Hasher.js"
import { runMain } from "./NewProcess.js"

/** What preparing did: whether it built anything, and how long it took (ms). */
export interface Prepared {
  readonly built: boolean
  readonly ms: number
}

/** Build the Hasher's bundle and its startup snapshot if they are missing (see above). */
export const prepareActors = (root: string): Effect.Effect<Prepared, unknown, Troupe.Troupe> =>
  Effect.gen(function*() {
    const t0 = performance.now()
    let entry = yield* ProcessBackend.prepare(HasherLive)
    let lives = 0
    for (; lives < 3 && entry.snapshotPending; lives++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const hasher = yield* (yield* Nursery.make()).start(HasherLive, { name: "warm-up", env: { NODE_EXTRA_CA_CERTS: undefined } })
        yield* hasher.hashDirs({ root, dirs: [""], maxFiles: 0, failAfter: null, throttleMs: 0 })
      }))
      entry = yield* ProcessBackend.prepare(HasherLive)
    }
    const ms = performance.now() - t0
    // A bundle built now takes hundreds of ms; a check of one up to date, a few.
    return { built: lives > 0 || ms > 250, ms }
  })

/**
 * `prepareActors` in a new `node` (examples/hashtree/prepare-main.ts, run by `runMain`). Fails
 * with an `Error` when it does not exit 0 with a result.
 */
export const prepareInNewProcess = (root: string): Effect.Effect<Prepared, Error> =>
  runMain<Prepared>(new URL("./prepare-main.ts", import.meta.url), [root], "preparing the actors")
