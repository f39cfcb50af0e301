/**
 * The read marks of persisted messages (`last_read` in `SqlMessageStorage`), kept from stranding
 * a request. `SqlMessageStorage` reads a request again only ten minutes after its `last_read`,
 * and `@effect/cluster` 0.60 leaves that mark on requests it read but did not hand to an entity:
 *
 * - When a runner acquires shards, `Sharding` resets their marks (`MessageStorage.resetShards`)
 *   bounded by its lock interval, ignoring the outcome: a reset cut short (a database slowed by
 *   the failover itself) leaves the requests the former owner had read marked.
 * - The storage read loop drops a request whose delivery was interrupted, mark set. Delivery waits
 *   for the entity's activation, and that activation runs in whichever fiber asked first
 *   (`internal/resourceMap.ts`): when that is a call whose caller gave up (a client timeout
 *   interrupts it), the activation is interrupted for every waiter. Seen in the namespace failover
 *   suite: a persisted `Work` read 5 s after a `kill -9`, its entity's activation interrupted 0.9 s
 *   later by a timed-out `Pids` call, the request then unread for good (2.5 min in that run).
 *
 * So, on a runner: `resetShards` runs to completion in the layer's scope (retried every
 * `Bounds.resetShardsRetryMs`, within `Bounds.resetShardsMs`), whatever becomes of the caller's
 * wait; and every `Bounds.rearmIntervalMs` the marks of requests (not interrupts: an interrupt read
 * again would interrupt its request again) unprocessed and read more than `Bounds.rearmAfterMs` ago
 * are cleared, so the shard's owner reads them at its next poll. Reading a request again is safe:
 * a runner skips one its entity is processing (`isProcessingFor`), and a second delivery of one
 * being delivered fails with `AlreadyProcessingMessage`, which the read loop ignores.
 *
 * Not `Entity.keepAlive`'s request (`KeepAliveRpc`): it stays unprocessed for as long as its
 * entity lives, by design, and is not among an entity's active requests, so a second delivery to
 * the live entity is answered at once (`EntityManager`: `keepAliveEnabled`) — which marks it
 * processed, and the entity is no longer brought back after its runner dies. (Re-arming it did
 * exactly that: a keepAlive entity was not re-activated after a `kill -9` in 2 of 3 CI runs under
 * load, where its request had been read more than `rearmAfterMs` before the kill.) For the same
 * reason, a keepAlive request this runner read before is dropped from what the storage reads while
 * its entity is active here (`internal/active.ts`): a completed late reset clears its mark too.
 *
 * @internal
 */
import { KeepAliveRpc } from "@effect/cluster/Entity"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Fiber, Layer, Schedule } from "effect"
import { rearmAfterMs, rearmIntervalMs, resetShardsMs, resetShardsRetryMs } from "../Bounds.js"
import { ActiveEntities } from "./active.js"

/** `SqlMessageStorage.layer`'s table of messages (its default prefix, `cluster`). */
const messagesTable = "cluster_messages"
/** `messageKind.Request` of `SqlMessageStorage`. */
const requestKind = 0
/** A reset this slow is logged (Info): `@effect/cluster` may have stopped waiting for it (lock intervals of `Settings`: 666–1,000 ms). */
const slowResetMs = 500

/**
 * Clear the read marks of requests unprocessed and read more than `olderThanMs` ago; how many.
 * (`now()` of the database on both sides of the comparison: no clock of ours is involved.)
 */
export const rearm = (olderThanMs: number): Effect.Effect<number, unknown, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe<{ readonly id: unknown }>(
      `UPDATE ${messagesTable} SET last_read = NULL WHERE processed = false AND kind = ${requestKind} AND tag <> $2 AND last_read IS NOT NULL AND last_read < now() - make_interval(secs => $1) RETURNING id`,
      [olderThanMs / 1000, KeepAliveRpc._tag]
    )).pipe(Effect.map((rows) => rows.length))

/**
 * Wraps the `MessageStorage` below it (`Layer.provide` the storage to it), and runs the re-arm
 * loop. Needs the runner's `ActiveEntities` (`internal/active.ts`).
 */
export const layer: Layer.Layer<
  MessageStorage.MessageStorage,
  never,
  MessageStorage.MessageStorage | SqlClient.SqlClient | ActiveEntities
> = Layer.scoped(
  MessageStorage.MessageStorage,
  Effect.gen(function*() {
    const storage = yield* MessageStorage.MessageStorage
    const active = yield* ActiveEntities
    const scope = yield* Effect.scope
    const complete = (shardIds: Parameters<typeof storage.resetShards>[0]) => {
      const t0 = Date.now()
      let attempts = 0
      const shards = () => Array.from(shardIds, String).join(", ")
      return Effect.suspend(() => (attempts++, storage.resetShards(shardIds))).pipe(
        Effect.retry(Schedule.spaced(resetShardsRetryMs)),
        Effect.tap(() =>
          Date.now() - t0 >= slowResetMs
            ? Effect.logInfo(`reset the read marks of shards ${shards()} in ${Date.now() - t0} ms (${attempts} attempt(s))`)
            : Effect.void
        ),
        Effect.timeout(resetShardsMs),
        Effect.catchAllCause((cause) =>
          Effect.logWarning(`could not reset the read marks of shards ${shards()} within ${resetShardsMs} ms; the re-arm loop clears them later`, cause)
        )
      )
    }
    yield* rearm(rearmAfterMs).pipe(
      Effect.tap((n) => (n > 0 ? Effect.logInfo(`re-armed ${n} persisted request(s) read more than ${rearmAfterMs} ms ago and not processed`) : Effect.void)),
      Effect.catchAllCause((cause) => Effect.logDebug("re-arming read marks failed (next round retries)", cause)),
      Effect.repeat(Schedule.spaced(rearmIntervalMs)),
      Effect.interruptible,
      Effect.forkIn(scope)
    )
    return MessageStorage.MessageStorage.of({
      ...storage,
      // A keepAlive request read again while its entity is active here: that entity holds it (or
      // its own newer one); a second delivery would answer it (internal/active.ts).
      unprocessedMessages: (shardIds) =>
        Effect.flatMap(storage.unprocessedMessages(shardIds), (messages) => {
          const held = messages.filter((m) =>
            m._tag === "IncomingRequest" && m.envelope.tag === KeepAliveRpc._tag &&
            active.seenWhileActive(m.envelope.address.entityType, m.envelope.address.entityId, String(m.envelope.requestId))
          )
          if (held.length === 0) return Effect.succeed(messages)
          return Effect.as(
            Effect.logInfo(`read again ${held.length} keepAlive request(s) whose entity holds them here; not delivered again: ${
              held.map((m) => `${m.envelope.address.entityType}/${m.envelope.address.entityId}`).join(", ")
            }`),
            messages.filter((m) => !held.includes(m))
          )
        }),
      // Forked into the layer's scope: a caller that stops waiting does not stop the reset. (Awaited,
      // not joined: a reset interrupted by the layer's release does not interrupt the caller.)
      resetShards: (shardIds) => Effect.flatMap(Effect.forkIn(complete(shardIds), scope), (f) => Effect.asVoid(Fiber.await(f)))
    })
  })
)
