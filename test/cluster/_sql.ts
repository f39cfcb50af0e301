// PostgreSQL helpers of the SQL cluster suites (TROUPE_PG_URL, from scripts/pg.sh).
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Cause, Effect, Layer, Redacted } from "effect"
import { startTs } from "./_cluster.js"

export const baseUrl: string | undefined = process.env.TROUPE_PG_URL
export const skipReason = "TROUPE_PG_URL is unset: start a private PostgreSQL with `export TROUPE_PG_URL=$(scripts/pg.sh)`"

/** A fresh database for one test, dropped (connections forced out) when the scope closes. */
export const freshDatabase = (url: string) =>
  Effect.gen(function*() {
    const name = `troupe_t${process.pid}_${Date.now()}`
    const admin = Layer.fresh(PgClient.layer({ url: Redacted.make(url) }))
    const run = (statement: string) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(Effect.provide(admin), Effect.scoped)
    yield* Effect.acquireRelease(run(`CREATE DATABASE ${name}`), () => Effect.ignore(run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))
    const u = new URL(url)
    u.pathname = `/${name}`
    return u.toString()
  })

/** A runner process; `fast`: `Settings.fastestFailover` with `Settings.fastHealth` (RUNNER_FAILOVER=fastest). */
export const runner = (url: string, port: number, fast = false) =>
  startTs(
    "test/cluster/fixtures/runner.ts",
    { TROUPE_PG_URL: url, RUNNER_PORT: String(port), ...(fast ? { RUNNER_FAILOVER: "fastest" } : {}) },
    /runner ready pid \d+/,
    60_000
  )

/**
 * For a failure's report: the unprocessed requests (and, given `entityId`, every message of that
 * entity), the runners and the shard locks (advisory locks by holder address) as the database
 * holds them; each query on its own.
 */
export const storageState = (url: string, entityId?: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const query = (statement: string) =>
      sql.unsafe(statement).pipe(Effect.catchAllCause((c) => Effect.succeed(`(${statement.slice(0, 40)}…: ${Cause.squash(c)})`)))
    const state = {
      // every message of one entity, processed or not (a keepAlive request answered by mistake is processed)
      ...(entityId === undefined ? {} : {
        entity: yield* query(
          `SELECT id, shard_id, tag, kind, processed, last_read, now() - last_read AS read_ago, last_reply_id FROM cluster_messages WHERE entity_id = '${entityId.replace(/'/g, "''")}' ORDER BY id`
        )
      }),
      unprocessed: yield* query(
        "SELECT id, shard_id, entity_id, tag, kind, processed, last_read, now() - last_read AS read_ago, last_reply_id FROM cluster_messages WHERE processed = false ORDER BY id"
      ),
      runners: yield* query("SELECT machine_id, address, healthy, last_heartbeat FROM cluster_runners"),
      locks: yield* query(
        "SELECT l.classid, l.objid, a.client_addr FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted ORDER BY l.objid"
      )
    }
    return JSON.stringify(state, (_k, v) => (typeof v === "bigint" ? String(v) : v))
  }).pipe(
    Effect.provide(Layer.fresh(PgClient.layer({ url: Redacted.make(url) }))),
    Effect.scoped,
    Effect.timeout("10 seconds"),
    Effect.catchAllCause((c) => Effect.succeed(`(could not read it: ${Cause.pretty(c)})`))
  )
