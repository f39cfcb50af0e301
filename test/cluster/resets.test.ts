// The read marks of persisted messages (packages/cluster/src/internal/resets.ts): a runner's shard
// resets run to completion (@effect/cluster waits for `MessageStorage.resetShards` only for its
// lock interval and ignores the outcome), and requests read long ago and still unprocessed are
// re-armed (SqlMessageStorage would read them again only after 10 min). The reset is driven on a
// stand-in storage; the re-arm on PostgreSQL (with TROUPE_PG_URL, as the other SQL suites).
import { describe, expect, it } from "@effect/vitest"
import { PersistenceError } from "@effect/cluster/ClusterError"
import { KeepAliveRpc } from "@effect/cluster/Entity"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as ShardId from "@effect/cluster/ShardId"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import * as Active from "../../packages/cluster/src/internal/active.js"
import * as Resets from "../../packages/cluster/src/internal/resets.js"
import { SqlRunner } from "../../packages/cluster/src/index.js"
import { eventually } from "./_cluster.js"
import { baseUrl, freshDatabase } from "./_sql.js"

/**
 * A storage whose `resetShards` takes `ms` and fails its first `failures` attempts, whose
 * `unprocessedMessages` returns `state.unread` (and a database that holds nothing).
 */
const standIn = (ms: number, failures: number, registry = Active.make()) => {
  const state = { attempts: 0, completed: [] as Array<string>, unread: [] as Array<unknown> }
  const storage = {
    unprocessedMessages: () => Effect.sync(() => state.unread),
    resetShards: (shardIds: Iterable<ShardId.ShardId>) =>
      Effect.gen(function*() {
        state.attempts++
        yield* Effect.sleep(ms)
        if (state.attempts <= failures) return yield* Effect.fail(new PersistenceError({ cause: new Error("connection reset") }))
        state.completed.push(Array.from(shardIds, String).join(","))
      })
  } as unknown as MessageStorage.MessageStorage["Type"]
  const sql = { unsafe: () => Effect.succeed([]) } as unknown as SqlClient.SqlClient
  return {
    state,
    registry,
    layer: Resets.layer.pipe(
      Layer.provide(
        Layer.mergeAll(
          Layer.succeed(MessageStorage.MessageStorage, storage),
          Layer.succeed(SqlClient.SqlClient, sql),
          Layer.succeed(Active.ActiveEntities, registry)
        )
      )
    )
  }
}

const shards = [ShardId.make("default", 3), ShardId.make("default", 7)]

/** A request as `unprocessedMessages` returns it (the fields the read filter looks at). */
const request = (tag: string, entityId: string, requestId: bigint) => ({
  _tag: "IncomingRequest",
  envelope: { tag, requestId, address: { entityType: "Keeper", entityId, shardId: shards[0] } }
})

describe("keepAlive requests read again", () => {
  it.live("one read before is dropped while its entity is active here; delivered when first read, when the entity is not active, and for any other request", () => {
    const { layer, registry, state } = standIn(0, 0)
    return Effect.gen(function*() {
      const storage = yield* MessageStorage.MessageStorage
      const read = () => Effect.map(storage.unprocessedMessages(shards), (ms) => ms.map((m) => `${(m.envelope as { readonly tag?: string }).tag}#${m.envelope.requestId}`))
      const kept = request(KeepAliveRpc._tag, "k", 1n)
      const work = request("Work", "k", 2n)
      state.unread = [kept, work]
      // First read, entity not active yet: delivered (it activates the entity).
      expect(yield* read()).toEqual([`${KeepAliveRpc._tag}#1`, "Work#2"])
      yield* Effect.scoped(Effect.gen(function*() {
        yield* registry.register("Keeper", "k")
        // Read again (a reset cleared its mark) while the entity holds it: dropped. Work is not.
        expect(yield* read()).toEqual(["Work#2"])
        expect(yield* read()).toEqual(["Work#2"])
        // Another entity's keepAlive request, first read: delivered.
        state.unread = [kept, request(KeepAliveRpc._tag, "other", 3n)]
        expect(yield* read()).toEqual([`${KeepAliveRpc._tag}#3`])
        // Its second read: that entity is not active here (its delivery failed): delivered again.
        expect(yield* read()).toEqual([`${KeepAliveRpc._tag}#3`])
      }))
      // The entity ended here: its request is delivered again (it brings the entity back).
      state.unread = [kept]
      expect(yield* read()).toEqual([`${KeepAliveRpc._tag}#1`])
    }).pipe(Effect.provide(layer))
  })
})

describe("keepAlive reads kept", () => {
  it("an entity not active here is forgotten once no read came for keptMs; one active here is kept until its last activation ends", () => {
    let t = 0
    const registry = Active.make(1000, () => t)
    const seen = (id: string) => registry.seenWhileActive("Keeper", id, "1")
    Effect.runSync(Effect.scoped(Effect.gen(function*() {
      expect(seen("gone")).toBe(false)
      expect(seen("hosted")).toBe(false)
      yield* registry.register("Keeper", "hosted")
      expect(registry.tracked()).toBe(2)
      t = 999
      expect(registry.tracked()).toBe(2)
      t = 1000
      // "gone" (never active here) is forgotten; "hosted" is kept, read or not, while active.
      expect(registry.tracked()).toBe(1)
      t = 5000
      expect(registry.tracked()).toBe(1)
      expect(seen("hosted")).toBe(true)
      // A read after that is a first read again (delivered), and kept for keptMs from then.
      expect(seen("gone")).toBe(false)
      expect(registry.tracked()).toBe(2)
    })))
    // The last activation ended: its reads are forgotten at once.
    expect(registry.tracked()).toBe(1)
    t = 6000
    expect(registry.tracked()).toBe(0)
  })
})

describe("shard resets", () => {
  it.live("a reset the caller stops waiting for (as Sharding does after its lock interval) still completes", () => {
    const { layer, state } = standIn(300, 0)
    return Effect.gen(function*() {
      const storage = yield* MessageStorage.MessageStorage
      const waited = yield* storage.resetShards(shards).pipe(Effect.timeoutOption("50 millis"))
      expect(Option.isNone(waited)).toBe(true)
      expect(state.completed).toEqual([])
      yield* eventually("the abandoned reset completed", 10_000, () => state.completed.length > 0)
      expect(state.completed).toEqual(["default:3,default:7"])
    }).pipe(Effect.provide(layer))
  })

  it.live("a failing reset is retried until it succeeds; a caller that waits sees it done", () => {
    const { layer, state } = standIn(10, 2)
    return Effect.gen(function*() {
      const storage = yield* MessageStorage.MessageStorage
      yield* storage.resetShards(shards).pipe(Effect.timeout("5 seconds"))
      expect(state.attempts).toBe(3)
      expect(state.completed).toEqual(["default:3,default:7"])
    }).pipe(Effect.provide(layer))
  })

  it.live("bounded by the layer's scope: closing it interrupts a reset still running", () => {
    const { layer, state } = standIn(60_000, 0)
    return Effect.gen(function*() {
      let resumed = false
      yield* Effect.scoped(Effect.gen(function*() {
        const storage = Context.get(yield* Layer.build(layer), MessageStorage.MessageStorage)
        yield* Effect.fork(Effect.zipRight(storage.resetShards(shards), Effect.sync(() => (resumed = true))))
        yield* eventually("the reset started", 5000, () => state.attempts === 1)
      }))
      // The reset was interrupted with the scope; a caller still waiting resumed (not interrupted).
      yield* eventually("the waiting caller resumed", 5000, () => resumed)
      expect(state.attempts).toBe(1)
      expect(state.completed).toEqual([])
      expect(resumed).toBe(true)
    }).pipe(Effect.timeout("10 seconds"))
  })
})

describe.skipIf(baseUrl === undefined)("re-arming read marks (PostgreSQL)", () => {
  it.live("clears the mark of requests read long ago and unprocessed; not of recent ones, interrupts, processed ones or a live entity's keepAlive", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* freshDatabase(baseUrl!)
      const db = PgClient.layer({ url: Redacted.make(url) })
      yield* Layer.build(SqlRunner.schema.pipe(Layer.provide(ShardingConfig.layer()), Layer.provide(db)))
      const sql = Context.get(yield* Layer.build(db), SqlClient.SqlClient)
      // id, kind (0 request, 2 interrupt), tag, processed, read how long ago (null: never)
      const rows: Array<[number, number, string, boolean, string | null]> = [
        [1, 0, "Work", false, "1 minute"], // stranded: re-armed
        [2, 0, "Work", false, "1 second"], // read just now (being delivered): kept
        [3, 2, "Work", false, "1 minute"], // an interrupt: kept (read again it would interrupt its request again)
        [4, 0, "Work", true, "1 minute"], // processed: kept
        [5, 0, "Work", false, null], // never read: nothing to do
        // a live keepAlive entity's request (unprocessed while it lives): kept, or a second
        // delivery would answer it and the entity would not come back after a crash
        [6, 0, KeepAliveRpc._tag, false, "1 minute"]
      ]
      for (const [id, kind, tag, processed, ago] of rows) {
        yield* sql.unsafe(
          `INSERT INTO cluster_messages (id, message_id, shard_id, entity_type, entity_id, kind, tag, processed, request_id, last_read)
           VALUES ($1, $2, 'default:1', 'Tally', 'e', $3, $4, $5, $1, ${ago === null ? "NULL" : `now() - interval '${ago}'`})`,
          [id, `m${id}`, kind, tag, processed]
        )
      }
      const rearmed = yield* Resets.rearm(10_000).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      expect(rearmed).toBe(1)
      const marks = yield* sql.unsafe<{ id: string; read: boolean }>("SELECT id::text AS id, last_read IS NOT NULL AS read FROM cluster_messages ORDER BY id")
      expect(marks.map((r) => [Number(r.id), r.read])).toEqual([[1, false], [2, true], [3, true], [4, true], [5, false], [6, true]])
    })), 60_000)
})
