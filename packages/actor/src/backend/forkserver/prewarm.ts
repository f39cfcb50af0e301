/**
 * What a forkserver's warm child does while it waits for its spawn spec: run once, in this
 * process, what every boot runs first, so that first-time work is not on the spawn's critical
 * path (measured on a warm spawn → `Ready`: ~24 → ~17 ms).
 *
 * - a fiber under the child's logging layer (the Effect runtime's lazily built state);
 * - a UDS listener in a private socket directory, a connection to it, the `Hello` handshake
 *   both ways, a channel on each end and one control message across (Node's `net` internals,
 *   the frame codec, V8's inline caches of the transport and channel code); all closed again;
 * - two scavenges: what loading left in the young generation is promoted now, instead of being
 *   copied by a scavenge in the middle of the boot (6–8 ms there, measured with a `gc`
 *   PerformanceObserver).
 *
 * Bounded by `PREWARM_MS`; a failure only means a colder boot (logged at Debug). The spec
 * arriving first interrupts it (a spawn never waits for it).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { getHeapSpaceStatistics } from "node:v8"
import { defaultActorBounds, limits } from "../../Bounds.js"
import * as Channel from "../../internal/channel.js"
import { withChildLogging } from "../../internal/child.js"
import { privateSocketDir } from "../../internal/socketDir.js"
import { type Aid, ready } from "../../Protocol.js"
import * as SocketTransport from "../../transport/SocketTransport.js"

/** The bound of the whole prewarm (ms). */
const PREWARM_MS = 2000
/** Allocations before giving up on seeing two scavenges (each a 16-slot array, ~150 bytes). */
const MAX_ALLOCATIONS = 400_000

const newSpaceUsed = (): number => getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_used_size ?? 0

/** Allocate short-lived garbage until the young generation was scavenged twice (bounded). */
const twoScavenges = (): void => {
  let scavenges = 0
  let last = newSpaceUsed()
  let sink: Array<unknown> | undefined
  for (let i = 1; i <= MAX_ALLOCATIONS && scavenges < 2; i++) {
    sink = new Array(16)
    if ((i & 1023) === 0) {
      const used = newSpaceUsed()
      if (used < last) scavenges++
      last = used
    }
  }
  void sink
}

/** A listener, a connection to it, handshakes and channels on both ends, one message across. */
const loopback = Effect.scoped(Effect.gen(function*() {
  const connLimits = limits(defaultActorBounds)
  const peer: Aid = { name: "prewarm-peer", id: "prewarm-peer@0", pid: process.pid }
  const self: Aid = { name: "prewarm", id: "prewarm@0", pid: process.pid }
  const listener = yield* SocketTransport.listen({
    transport: "uds",
    socketDir: yield* privateSocketDir,
    name: "prewarm",
    limits: connLimits,
    closeMs: 100
  })
  const received = yield* Deferred.make<void>()
  yield* Effect.forkScoped(listener.run((conn) =>
    Effect.gen(function*() {
      const hello = yield* Channel.handshake(conn, peer, "peer", false, PREWARM_MS)
      const ch = yield* Channel.make(conn, peer, hello[1], false, { onControl: () => Deferred.unsafeDone(received, Effect.void) })
      yield* ch.closed
    }).pipe(Effect.scoped, Effect.ignore)
  ))
  const conn = yield* SocketTransport.connect(listener.address, connLimits, PREWARM_MS)
  const hello = yield* Channel.handshake(conn, self, "child", true, PREWARM_MS)
  const ch = yield* Channel.make(conn, self, hello[1], true, {})
  ch.write(ready(listener.address))
  yield* Deferred.await(received)
}))

/**
 * Start the prewarm in the background; never fails. Interrupt the fiber when the spec arrives
 * first (its finalizers close the listener and remove the socket directory).
 */
export const prewarm = (): Fiber.RuntimeFiber<void> =>
  Effect.runFork(
    withChildLogging(
      loopback.pipe(
        Effect.timeout(PREWARM_MS),
        Effect.catchAllCause((cause) => Effect.logDebug("forkserver prewarm failed (a colder boot)", cause)),
        Effect.zipRight(Effect.sync(twoScavenges))
      ),
      { actor: "prewarm" },
      () => undefined
    )
  )
