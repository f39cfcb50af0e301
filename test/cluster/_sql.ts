// PostgreSQL helpers of the SQL cluster suites (TROUPE_PG_URL, from scripts/pg.sh).
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Layer, Redacted } from "effect"
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
