/**
 * A hang dump for a test (tractor's `dump_on_hang`): when a test runs past its time, before
 * anything is torn down, ask every live actor of the test's tree (the registrar's list) for its
 * `Dump` (the built-in `$dump.dump` call), each within `boundMs`; an actor that does not answer
 * (a busy loop, a dead one) is listed as not answering, with why. The dumps and the test
 * process's `process.report.getReport()` go to files in `dir`, and the path is printed on stderr.
 *
 * Files: `<dir>/<test>-<pid>-<time>.txt` (the actors' dumps, rendered by `Dump.render`) and
 * beside it `….report.json` (Node's diagnostic report of the test process: JS and native
 * stacks, libuv handles). `dir` defaults to `TROUPE_TEST_DUMP_DIR`, else
 * `<os tmpdir>/troupe-hang-dumps`.
 *
 * @since 0.1.0
 */
import { Config, Effect, Fiber, Option, Schema } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Dump from "@troupe/actor/Dump"
import { formatAddress } from "@troupe/actor/Protocol"
import { Troupe } from "@troupe/actor/Troupe"
import { testBounds } from "./Bounds.js"

/** A test ran past `afterMs`; its hang dump is at `dumpPath`. */
export class TestHung extends Schema.TaggedError<TestHung>()("TestHung", {
  afterMs: Schema.Number,
  dumpPath: Schema.String
}) {
  override get message(): string {
    return `the test did not finish within ${this.afterMs} ms; hang dump: ${this.dumpPath}`
  }
}

/** One actor's part of a hang dump. */
export type Entry =
  | { readonly _tag: "Answered"; readonly name: string; readonly id: string; readonly dump: Dump.ActorDump }
  | { readonly _tag: "NotAnswering"; readonly name: string; readonly id: string; readonly pid: number; readonly reason: string }

export interface Report {
  /** The text file. */
  readonly path: string
  /** Node's diagnostic report of the test process. */
  readonly reportPath: string
  readonly entries: ReadonlyArray<Entry>
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80) || "test"

/** Where dumps go: `TROUPE_TEST_DUMP_DIR`, else `<tmpdir>/troupe-hang-dumps`. */
export const dumpDir: Effect.Effect<string> = Config.option(Config.string("TROUPE_TEST_DUMP_DIR")).pipe(
  Effect.orDie,
  Effect.map(Option.getOrElse(() => join(tmpdir(), "troupe-hang-dumps")))
)

/**
 * Dump every actor registered with this root's registrar (each asked concurrently, each within
 * `boundMs`), write the files and print the path. Never fails: what cannot be had is written
 * down as such.
 */
export const write = (options: {
  /** The test's name (part of the file name). */
  readonly name: string
  /** Per-actor answer bound (ms). Default 2000. */
  readonly boundMs?: number
  readonly dir?: string
}): Effect.Effect<Report, never, Troupe> =>
  Effect.gen(function*() {
    const rt = yield* Troupe
    const boundMs = options.boundMs ?? testBounds.dumpAnswerMs
    const dir = options.dir ?? (yield* dumpDir)
    mkdirSync(dir, { recursive: true })
    const base = join(dir, `${safeName(options.name)}-${process.pid}-${new Date().toISOString().replace(/[:.]/g, "-")}`)
    const listed = yield* rt.registrar.list.pipe(
      Effect.timeoutFail({ duration: boundMs, onTimeout: () => new Error(`registrar did not answer within ${boundMs} ms`) }),
      Effect.either
    )
    const actors = listed._tag === "Right" ? listed.right : [rt.info]
    const entries = yield* Effect.forEach(actors, (info) =>
      Dump.request(info.address, { timeoutMs: boundMs, secret: rt.config.secret }).pipe(
        Effect.map((dump): Entry => ({ _tag: "Answered", name: info.name, id: info.id, dump })),
        Effect.catchAll((e) =>
          Effect.succeed<Entry>({ _tag: "NotAnswering", name: info.name, id: info.id, pid: info.pid, reason: e.reason })
        )
      ), { concurrency: "unbounded" })
    const reportPath = `${base}.report.json`
    let reportNote = reportPath
    try {
      // getReport, not writeReport: writeReport puts even an absolute path under a
      // `--report-directory` the process was started with.
      writeFileSync(reportPath, JSON.stringify(process.report.getReport(), null, 2))
    } catch (e) {
      reportNote = `(process.report.getReport failed: ${String(e)})`
    }
    const text = [
      `troupe hang dump: ${options.name}`,
      `taken ${new Date().toISOString()} in process ${process.pid}; registrar ${rt.registrarAddress === null ? "?" : formatAddress(rt.registrarAddress)}`,
      listed._tag === "Left" ? `registrar: ${listed.left.message} (only this root is dumped)` : `${actors.length} live actor(s)`,
      `process report: ${reportNote}`,
      "",
      ...entries.map((e) =>
        e._tag === "Answered"
          ? Dump.render(e.dump)
          : `actor ${e.id} (pid ${e.pid}): NOT ANSWERING — ${e.reason}`
      )
    ].join("\n")
    const path = `${base}.txt`
    writeFileSync(path, text + "\n")
    process.stderr.write(`troupe: hang dump of "${options.name}" written to ${path}\n`)
    return { path, reportPath, entries }
  })

/**
 * Run `body`; if it has not finished after `afterMs`, write a hang dump while it is still
 * running (nothing torn down yet), then interrupt it (its teardown runs) and fail with
 * `TestHung` naming the dump's path.
 */
export const withHangDump = <A, E, R>(
  body: Effect.Effect<A, E, R>,
  options: { readonly afterMs: number; readonly name: string; readonly boundMs?: number; readonly dir?: string }
): Effect.Effect<A, E | TestHung, R | Troupe> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(body)
    const done = yield* Fiber.join(fiber).pipe(Effect.timeoutOption(options.afterMs))
    if (Option.isSome(done)) return done.value
    const report = yield* write({ name: options.name, ...(options.boundMs === undefined ? {} : { boundMs: options.boundMs }), ...(options.dir === undefined ? {} : { dir: options.dir }) })
    yield* Fiber.interrupt(fiber)
    return yield* Effect.fail(new TestHung({ afterMs: options.afterMs, dumpPath: report.path }))
  })
