/**
 * Every actor-level bound and limit, in one place, with its default.
 *
 * Times are milliseconds, sizes bytes or messages. A bound is a deadline for one wait in a
 * teardown or boot path: when it passes, the waiter escalates (or fails) and logs it. No wait in
 * a finalizer is unbounded. The process-level termination ladder (SIGINT → SIGTERM → SIGKILL)
 * has its own bounds in `@troupe/process/Bounds`, re-exported here as `Ladder`.
 *
 * Defaults follow tractor (see `shared/reference/tractor-semantics.md` §4): cancel ack 0.5 s
 * (`Portal.cancel_timeout`), nursery cancel 3 s (`ActorNursery.cancel`), handshake 10 s
 * (`_PRE_REG_HANDSHAKE_TIMEOUT`), stream window 64 (`msg_buffer_size`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Layer from "effect/Layer"

export * as Ladder from "@troupe/process/Bounds"

export interface ActorBounds {
  /**
   * After sending `Cancel` for a call/stream/context, wait this long for the remote's
   * `CancelAck` (or final message); then escalate: cancel the whole actor, then terminate its
   * process — at once, when the `Ping` sent with the cancel went unanswered too (its event loop
   * is not running). Default 500 ms (tractor `Portal.cancel_timeout`).
   */
  readonly cancelAckMs: number
  /**
   * `cancelActor`: wait this long for the actor's acknowledgement; past it, SIGKILL its group when
   * the `Ping` sent with it went unanswered too (wedged), else wait for its exit
   * (`nurseryCancelMs`, a loop that runs but slowly). Default 500 ms.
   */
  readonly actorCancelAckMs: number
  /**
   * Closing a nursery: wait this long for all children to cancel gracefully and exit, then run
   * the termination ladder on every child still alive. Default 3000 ms (tractor `an.cancel`).
   */
  readonly nurseryCancelMs: number
  /**
   * Boot: from spawn to the child's `Ready` (connect back, handshake, spawn spec, listener,
   * module load, registration). Default 10000 ms (tractor `_PRE_REG_HANDSHAKE_TIMEOUT`).
   */
  readonly bootMs: number
  /** A peer's first frame (`Hello`) must arrive within this. Default 10000 ms. */
  readonly handshakeMs: number
  /**
   * A child whose parent died (parent channel EOF or parent-death signal) runs its own
   * teardown and exits; if that takes longer than this it exits anyway (code 70). Default 5000 ms.
   */
  readonly parentDeathExitMs: number
  /** Closing a listener waits at most this for open connections to finish. Default 500 ms. */
  readonly listenerCloseMs: number
  /** Closing a connection waits at most this for queued frames to be written. Default 200 ms. */
  readonly flushMs: number
  /** Largest frame accepted or sent, body bytes (4-byte header excluded). Default 8 MiB. */
  readonly maxFrameBytes: number
  /**
   * Receive window of a stream when none is given: elements in flight before the sender suspends
   * (a sender with credit left sends its whole chunk, so at most one chunk more). The receiver
   * grants this many first; on a transport that measures frames (sockets) it then resizes the
   * window to hold about `streamWindowBytes`, within 1…`streamWindowMax` elements. Default 64.
   */
  readonly streamWindow: number
  /** Most elements the default window grows to (small elements on a socket). Default 1024. */
  readonly streamWindowMax: number
  /**
   * Bytes the default window aims to hold in flight, from the measured size of the elements
   * received so far (socket transports; a `MessagePort` measures nothing and keeps
   * `streamWindow`). Default 1 MiB. An explicit `window` is used as given.
   */
  readonly streamWindowBytes: number
  /**
   * Bytes queued for writing on one connection (ours plus the socket's buffer) above which stream
   * senders suspend until the peer reads (backpressure; control messages are never held back).
   * Default 16 MiB.
   */
  readonly maxQueuedBytes: number
  /** Messages held on a connection before its handshake completed; more drop it. Default 1024. */
  readonly maxUnattachedMessages: number
}

/**
 * A process actor whose parent died and which has not exited `parentDeathExitMs` later — its JS
 * thread wedged (a synchronous loop), so neither the parent-death SIGTERM handler nor the
 * code-70 timer can run — is SIGKILLed with its descendants by a native watchdog thread
 * (pidfd of the parent + poll(2); see `armParentWatchdog` in @troupe/process's addon) this many
 * ms after that bound. Needs the addon; without it such a process outlives its parent.
 */
export const parentWatchdogSlackMs = 1000

export const defaultActorBounds: ActorBounds = {
  cancelAckMs: 500,
  actorCancelAckMs: 500,
  nurseryCancelMs: 3000,
  bootMs: 10_000,
  handshakeMs: 10_000,
  parentDeathExitMs: 5000,
  listenerCloseMs: 500,
  flushMs: 200,
  maxFrameBytes: 8 * 1024 * 1024,
  streamWindow: 64,
  streamWindowMax: 1024,
  streamWindowBytes: 1024 * 1024,
  maxQueuedBytes: 16 * 1024 * 1024,
  maxUnattachedMessages: 1024
}

/**
 * Defaults of a `Supervisor` (each can be set per supervisor). OTP's supervisor defaults are
 * intensity 1 within 5 s; troupe allows 3 (a process restart costs a boot, not a spawn of a green
 * thread), and spaces restarts with an exponential backoff (OTP has none; tractor has no
 * supervisors, issue #22).
 */
export const supervisorDefaults = {
  /** Restarts allowed within `periodMs`; one more and the supervisor gives up. Default 3. */
  intensity: 3,
  /** The sliding window of the intensity, ms. Default 5000 ms (OTP `period`). */
  periodMs: 5000,
  /** First backoff delay between a crash and its restart, ms; doubled each restart. Default 100 ms. */
  backoffBaseMs: 100,
  /** Largest backoff delay, ms. Default 5000 ms. */
  backoffCapMs: 5000
} as const

/**
 * The process backend's cache of child bundles (`backend/process/bundleCache.ts`): one entry per
 * actor module (bundle, source map, V8 code cache, meta; ~3–4 MB), pruned once per process, just
 * after it first needs a bundle (not on that spawn's path). Entries used least recently go
 * first, until at most `maxEntries` and `maxBytes` remain; an entry used within `inUseGraceMs`
 * (by any process: each use touches it) is never removed, so the bounds can be exceeded only by
 * bundles in use.
 */
export interface BundleCacheBounds {
  /** Entries kept. Default 32. */
  readonly maxEntries: number
  /** Bytes kept, all files of all entries. Default 256 MiB. */
  readonly maxBytes: number
  /** An entry (or a bundler's temporary directory) younger than this is left alone. Default 600000 ms (10 min). */
  readonly inUseGraceMs: number
  /**
   * A process that added nothing to the cache prunes it this long after it first needed a bundle
   * (if it still runs then; one that adds a bundle or a snapshot prunes right after). Default 5000 ms.
   */
  readonly pruneDelayMs: number
}

export const defaultBundleCacheBounds: BundleCacheBounds = {
  maxEntries: 32,
  maxBytes: 256 * 1024 * 1024,
  inUseGraceMs: 10 * 60 * 1000,
  pruneDelayMs: 5000
}

/**
 * The built-in dump an actor answers (`Dump.ts`, `internal/dump.ts`): a bounded answer even with
 * many fibers, and no fiber can hold it up.
 */
export const dumpBounds = {
  /** Fibers listed at most (Effect's fiber roots first, then their children). Default 2000. */
  maxFibers: 2000,
  /** A fiber that does not report its status within this many ms is listed as unknown. Default 200 ms. */
  fiberStatusMs: 200,
  /** `troupe ps --stats`: the wait for one actor's counters (connect, handshake, call), ms. Default 2000 ms. */
  statsRequestMs: 2000
} as const

/**
 * The forkserver backend (`backend/forkserver/`): one spawner process per runtime that keeps
 * pre-warmed child runtimes ready per child entry (actor module).
 */
export interface ForkserverBounds {
  /** Warm children kept ready per child entry (actor module and Node flags). Default 1. */
  readonly warmPerEntry: number
  /** Child entries kept warm at once (least recently used ones lose their warm children). Default 4. */
  readonly warmEntries: number
  /** Wait for the spawner to start and answer, and for each spawn request's answer, ms. Default 10000 ms. */
  readonly requestMs: number
  /** After handing out a warm child, the server waits this long before warming the next one for that entry (the child handed out boots first). Default 50 ms. */
  readonly warmRefillDelayMs: number
  /**
   * After handing out a child it had to start cold (no warm one), the server waits this long
   * before warming the next one for that entry, so the two boots do not share the cores.
   * Default 300 ms (about one boot on an idle 2-core machine).
   */
  readonly coldRefillDelayMs: number
  /**
   * How an actor starts while this runtime has no server up (before the first one, and after one
   * died): `"direct"` launches it as the process backend does (this runtime is its OS parent),
   * and `coldRefillDelayMs` later the server starts in the background and warms a child for that
   * entry, so a cold root spawns as fast as the process backend; `"server"` waits for the server
   * and has it start the actor. Default `"direct"`; `@troupe/testing` uses `"server"`, so the
   * suites exercise the server.
   */
  readonly coldStart: "direct" | "server"
}

export const defaultForkserverBounds: ForkserverBounds = {
  warmPerEntry: 1,
  warmEntries: 4,
  requestMs: 10_000,
  warmRefillDelayMs: 50,
  coldRefillDelayMs: 300,
  coldStart: "direct"
}

/**
 * The forkserver settings in effect, read when a runtime builds its forkserver backend; provide
 * `Bounds.forkserverLayer({...})` to change them (e.g. `Troupe.layer({ backend: "forkserver" })
 * .pipe(Layer.provide(Bounds.forkserverLayer({ coldStart: "server" })))`).
 */
export class Forkserver extends Context.Reference<Forkserver>()("@troupe/actor/Bounds/Forkserver", {
  defaultValue: (): ForkserverBounds => defaultForkserverBounds
}) {}

/** A layer that sets some forkserver settings and keeps the defaults for the rest. */
export const forkserverLayer = (bounds: Partial<ForkserverBounds>): Layer.Layer<never> =>
  Layer.succeed(Forkserver, { ...defaultForkserverBounds, ...bounds })

/** The actor bounds in effect; provide `Bounds.layer({...})` (or `Troupe.layer({ bounds })`) to change them. */
export class Bounds extends Context.Reference<Bounds>()("@troupe/actor/Bounds", {
  defaultValue: (): ActorBounds => defaultActorBounds
}) {}

/** A layer that sets some bounds and keeps the defaults for the rest. */
export const layer = (bounds: Partial<ActorBounds>): Layer.Layer<never> =>
  Layer.succeed(Bounds, { ...defaultActorBounds, ...bounds })

/** The limits a connection needs, from the bounds. */
export const limits = (b: ActorBounds) => ({
  maxFrameBytes: b.maxFrameBytes,
  maxQueuedBytes: b.maxQueuedBytes,
  maxUnattachedMessages: b.maxUnattachedMessages,
  flushMs: b.flushMs
})

/** Merge overrides into a bounds value. */
/**
 * Overrides of `ActorBounds` as a caller writes them: the time bounds (`…Ms`) take any Effect
 * `Duration` input (`"2 seconds"`, `Duration.millis(500)`, or a number of ms), the others numbers.
 */
export type BoundsInput = {
  readonly [K in keyof ActorBounds]?: K extends `${string}Ms` ? Duration.DurationInput : ActorBounds[K]
}

/** `base` with `overrides` applied; a time bound given as a `Duration` input becomes ms (rounded). */
export const merge = (base: ActorBounds, overrides: BoundsInput | undefined): ActorBounds => {
  if (overrides === undefined) return base
  const out: Record<string, number> = { ...base }
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue
    out[k] = k.endsWith("Ms") ? Math.round(Duration.toMillis(Duration.decode(v as Duration.DurationInput))) : (v as number)
  }
  return out as unknown as ActorBounds
}
