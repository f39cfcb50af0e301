/**
 * Every teardown bound of the process layer, in one place, with its default.
 *
 * All values are milliseconds. A bound is a deadline for one wait in a teardown path: when it
 * passes, the ladder escalates to the next step and logs the escalation. No wait in a finalizer
 * is unbounded.
 *
 * The SIGINT → SIGTERM → SIGKILL shape follows tractor's `hard_kill(terminate_after=1.6 s)`
 * (see `shared/reference/tractor-semantics.md` §4) and `timeout(1)`'s `--kill-after`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

export interface LadderBounds {
  /** Send SIGINT first and wait this long before SIGTERM. `0` skips the SIGINT step. Default 0 ms. */
  readonly interruptGraceMs: number
  /** After SIGTERM, wait this long for the group to exit before SIGKILL. Default 2000 ms. */
  readonly terminateGraceMs: number
  /** After SIGKILL, wait this long for every process to be gone (then report survivors). Default 1000 ms. */
  readonly killGraceMs: number
  /**
   * After the leader exits on its own, wait this long for what it left in its group and for
   * stdout/stderr EOF before running the ladder on the rest. Restarts while output still flows,
   * up to `postExitGraceMaxMs`. Default 200 ms.
   */
  readonly postExitGraceMs: number
  /** Upper bound of the restarting post-exit grace. Default 2000 ms. */
  readonly postExitGraceMaxMs: number
  /**
   * After the group is gone and orphan pipe writers were killed, wait this long for stdout/stderr
   * to reach EOF so buffered output is delivered. Then they are closed (logged). Default 1000 ms.
   */
  readonly drainGraceMs: number
  /**
   * A `stream` output's bytes read from the child and not yet taken by its reader. Unread
   * (nobody has started reading): the rest is discarded, logged — the child never blocks on an
   * output nobody reads. Being read: the child is backpressured at this bound (reading resumes
   * at half), as a pipe would. Default 16 MiB. (Not a wait: a limit.)
   */
  readonly maxBufferedOutputBytes: number
}

export const defaultLadderBounds: LadderBounds = {
  interruptGraceMs: 0,
  terminateGraceMs: 2000,
  killGraceMs: 1000,
  postExitGraceMs: 200,
  postExitGraceMaxMs: 2000,
  drainGraceMs: 1000,
  maxBufferedOutputBytes: 16 * 1024 * 1024
}

/**
 * The ladder bounds in effect. Provide `Bounds.layer({...})` to change them for a program;
 * per-spawn overrides go in the spawn options.
 */
export class Bounds extends Context.Reference<Bounds>()("@troupe/process/Bounds", {
  defaultValue: (): LadderBounds => defaultLadderBounds
}) {}

/** A layer that sets some bounds and keeps the defaults for the rest. */
export const layer = (bounds: Partial<LadderBounds>): Layer.Layer<never> =>
  Layer.succeed(Bounds, { ...defaultLadderBounds, ...bounds })

/** Merge per-call overrides into a bounds value. */
export const merge = (base: LadderBounds, overrides: Partial<LadderBounds> | undefined): LadderBounds =>
  overrides === undefined ? base : { ...base, ...overrides }
