/**
 * Subreaper mode: prctl(PR_SET_CHILD_SUBREAPER) makes orphaned descendants (setsid escapees
 * whose parent died, the processes of a child that was SIGKILLed) reparent to this process
 * instead of PID 1, so they stay visible, killable and reapable (prctl(2); the mechanism
 * systemd and tini use). Every process actor turns it on for its lifetime (so an orphan stays
 * inside the tree, where its ancestors' ladders find it); for a root program it is opt-in
 * (`Subreaper.layer`; the test kit's process guard turns it on).
 *
 * While the scope is open, a SIGCHLD hook reaps adopted zombies with waitpid(pid, WNOHANG) on
 * each specific pid — never waitpid(-1), which would steal the children `child_process`
 * tracks (their `'exit'` would never fire). Closing the scope runs SIGTERM → SIGKILL on the
 * adopted processes still alive (bounded by `Bounds`), reaps them, and turns the mode off.
 *
 * Requires the native addon on Linux; fails with `SubreaperUnavailable` otherwise.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Bounds from "./Bounds.js"
import * as ChildRegistry from "./ChildRegistry.js"
import * as procfs from "./internal/procfs.js"
import * as Ladder from "./Ladder.js"
import { native } from "./Native.js"
import { nativeLoadError } from "./internal/native.js"

export class SubreaperUnavailable extends Schema.TaggedError<SubreaperUnavailable>()("SubreaperUnavailable", {
  message: Schema.String
}) {}

/**
 * Our children that nobody in this process started: adopted orphans (zombies included). What a
 * thread of this process started is in `ChildRegistry` (every `ChildProcess` spawned while the
 * mode is on, and what worker threads report) and is left to whoever started it.
 */
export const adopted = (): Array<procfs.ProcStat> =>
  procfs.childrenOf(process.pid).filter((s) => !ChildRegistry.has(s.pid))

/**
 * Reap adopted zombies, one specific pid at a time. Returns the reaped pids. Does nothing while
 * a worker thread is between a spawn and its report (`ChildRegistry.spawnsInFlight`): the zombie
 * may be its child, whose exit status it will collect; a later call reaps what is still left.
 */
export const reapAdopted = (): Array<number> => reapZombies(adopted)

/** `reapAdopted` over a listing (`list` is called only when reaping may go ahead). */
const reapZombies = (list: () => ReadonlyArray<procfs.ProcStat>): Array<number> => {
  const reaped: Array<number> = []
  if (native === undefined || ChildRegistry.spawnsInFlight()) return reaped
  for (const s of list()) {
    if (s.state !== "Z") continue
    try {
      if (native.waitPidNoHang(s.pid) !== null) reaped.push(s.pid)
    } catch {
      // ECHILD: someone else reaped it
    }
  }
  return reaped
}

const release = (bounds: Bounds.LadderBounds) => Effect.gen(function*() {
  // The ladder on every adopted process still alive: its own group when it leads one (a setsid
  // escapee), else it and its descendants one by one (never a group that is not its own).
  const found = adopted()
  const live = found.filter((s) => !procfs.isExitedState(s))
  if (live.length > 0) {
    yield* Ladder.runAll(
      live.map((s) => Ladder.processTarget({ pid: s.pid, startTime: s.startTime }, s.pgrp === s.pid)),
      bounds,
      "subreaper released"
    )
    reapAdopted()
  } else {
    // Nothing alive to end: the zombies are in this listing already (one read of /proc, not two).
    reapZombies(() => found)
  }
  native!.setChildSubreaper(false)
})

/** Pids of the `ChildProcess` handles alive now (children started before the registry was installed). */
const childHandles = (): Array<number> => {
  const handles = (process as unknown as { _getActiveHandles(): Array<unknown> })._getActiveHandles()
  const out: Array<number> = []
  for (const h of handles) {
    const pid = (h as { pid?: unknown } | null)?.pid
    if (h !== null && (h as object).constructor?.name === "ChildProcess" && typeof pid === "number") out.push(pid)
  }
  return out
}

/**
 * Turn subreaper mode on for the scope's lifetime.
 * Fails with `SubreaperUnavailable` when the addon is not loaded.
 */
export const enable: Effect.Effect<void, SubreaperUnavailable, Scope.Scope> = Effect.gen(function*() {
  if (native === undefined) {
    return yield* new SubreaperUnavailable({ message: `subreaper mode needs the native addon: ${nativeLoadError}` })
  }
  const binding = native
  const onChild = () => void reapAdopted()
  // The release's bounds are read now, and the release is added to the scope as it is (no
  // FiberRef diff and patch around it: it is part of every child actor's teardown).
  const bounds = yield* Bounds.Bounds
  const scope = yield* Effect.scope
  yield* Effect.uninterruptible(Effect.zipRight(
    Effect.sync(() => {
      ChildRegistry.install()
      // Children started before the mode was on: Node's live ChildProcess handles.
      for (const pid of childHandles()) ChildRegistry.add(pid)
      binding.setChildSubreaper(true)
      process.on("SIGCHLD", onChild)
    }),
    Scope.addFinalizer(
      scope,
      release(bounds).pipe(Effect.ensuring(Effect.sync(() => {
        process.off("SIGCHLD", onChild)
        ChildRegistry.uninstall()
      })))
    )
  ))
})

/** `enable` as a layer, for a root program: `Effect.provide(Subreaper.layer)`. */
export const layer: Layer.Layer<never, SubreaperUnavailable> = Layer.scopedDiscard(enable)
