/**
 * One troupe root per test, for `@effect/vitest`: `TestRoot.layer(config)` builds, for each test
 * it is provided to, a root runtime with its **own directory and its own registrar** — the root's
 * listener (which hosts the registrar) is bound at `<dir>/troupe/registrar.sock` (UDS; every
 * actor of the tree puts its socket in `<dir>/troupe`) or on 127.0.0.1 with a kernel-chosen port
 * (TCP) — never a shared default path or port. `<dir>` is a fresh `mkdtemp` directory
 * (`<os tmpdir>/troupe-test-<pid>-XXXXXX`, mode 0700), removed after the test.
 *
 * Teardown order: the test's scope (its nurseries), then the root, then the leak assertion
 * (`LeakGuard`: processes, workers, fds, pidfds, listeners, socket files the test left), then
 * the directory. A leak fails the test naming it.
 *
 * On the forkserver backend the root's server starts every actor, even before it is up
 * (`Bounds.forkserverLayer({ coldStart: "server" })`): the default would start a new root's
 * first actors directly, as the process backend does, and the matrix's forkserver row would
 * mostly test that.
 *
 * `TestRoot.it(config, ...needs)` registers an `it.live` test that runs under this layer with a
 * hang dump (`HangDump.withHangDump`) at its timeout, skipped with a reason when `needs` (see
 * `TroupeTest.skipReason`) rule the configuration out.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Bounds from "@troupe/actor/Bounds"
import type { ActorBounds } from "@troupe/actor/Bounds"
import type { Address } from "@troupe/actor/Protocol"
import * as Troupe from "@troupe/actor/Troupe"
import { testBounds } from "./Bounds.js"
import * as HangDump from "./HangDump.js"
import * as LeakGuard from "./LeakGuard.js"
import * as TroupeTest from "./TroupeTest.js"

export interface TestRootService {
  readonly config: TroupeTest.Config
  /** This test's private directory (removed after the test). Socket files the test leaves here (outside `troupe/`) are leaks. */
  readonly dir: string
  /** This test's registrar: its root's listener. */
  readonly registrar: Address
  /** Also require `pid` to be gone after the test. */
  readonly track: (pid: number) => void
  readonly guard: LeakGuard.Guard
}

export class TestRoot extends Context.Tag("@troupe/testing/TestRoot")<TestRoot, TestRootService>() {}

export interface Options {
  readonly bounds?: Partial<ActorBounds>
  /** Forkserver settings over the current ones (`Bounds.Forkserver`); `coldStart` is `"server"` unless given here. */
  readonly forkserver?: Partial<Bounds.ForkserverBounds>
  /** How long after the test its leftovers may take to go (ms). Default 5000. */
  readonly leakBoundMs?: number
  /** What the leak assertion checks (default: everything, `LeakGuard.allKinds`). */
  readonly leaks?: ReadonlyArray<LeakGuard.Kind>
}

/** A fresh root for each test it is provided to (see the module docs). */
export const layer = (config: TroupeTest.Config, options: Options = {}): Layer.Layer<Troupe.Troupe | TestRoot, unknown> =>
  Layer.scopedContext(Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), `troupe-test-${process.pid}-`))),
      (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true }))
    )
    const socketDir = join(dir, "troupe")
    mkdirSync(socketDir, { mode: 0o700 })
    const guard = yield* LeakGuard.make({
      ...(options.leaks === undefined ? {} : { kinds: options.leaks }),
      socketDirs: [dir],
      // the tree's own socket files: a killed actor's stays until the directory goes with the test
      exclude: [socketDir]
    })
    yield* Effect.addFinalizer(() => guard.assertNoneLeft(options.leakBoundMs ?? testBounds.leakMs).pipe(Effect.orDie))
    const rt = yield* Troupe.make({
      backend: config.backend,
      transport: config.transport,
      socketDir,
      listen: config.transport === "uds"
        ? { _tag: "UnixAddress", path: join(socketDir, "registrar.sock") }
        : { _tag: "TcpAddress", hostname: "127.0.0.1", port: 0 },
      ...(options.bounds ? { bounds: options.bounds } : {})
    }).pipe(Effect.provideService(Bounds.Forkserver, { ...(yield* Bounds.Forkserver), coldStart: "server", ...options.forkserver }))
    const registrar = rt.registrarAddress ?? rt.address
    return Context.make(Troupe.Troupe, rt).pipe(
      Context.add(TestRoot, { config, dir, registrar, track: guard.track, guard })
    )
  }))

export interface TestOptions extends Options {
  /** When the test counts as hung (ms): a hang dump is written, then it is torn down. Default 30000. */
  readonly timeout?: number
  /** Per-actor bound of the hang dump (ms). Default 2000. */
  readonly dumpBoundMs?: number
}

/** What vitest's own timeout adds to `timeout`: the dump, the teardown and the leak wait. */
const reserveMs = (o: TestOptions) =>
  (o.dumpBoundMs ?? testBounds.dumpAnswerMs) + (o.leakBoundMs ?? testBounds.leakMs) + testBounds.teardownReserveMs

/**
 * Register a test for `config` (skipped, with the reason in its name, when `needs` rule it out):
 * `body` runs with its own root (`layer`) and a hang dump at `timeout`.
 *
 * ```ts
 * TestRoot.it(config, "own-process")("greets", () => Effect.gen(function*() { ... }), { timeout: 20_000 })
 * ```
 */
const itImpl = (config: TroupeTest.Config, ...needs: ReadonlyArray<TroupeTest.Need>) =>
<A, E>(
  name: string,
  body: () => Effect.Effect<A, E, Troupe.Troupe | TestRoot | Scope.Scope>,
  options: TestOptions = {}
): void => {
  const timeout = options.timeout ?? testBounds.timeoutMs
  TroupeTest.liveIf(config, ...needs)(
    name,
    (ctx) =>
      HangDump.withHangDump(Effect.scoped(body()), {
        afterMs: timeout,
        name: `${ctx.task.name}`,
        ...(options.dumpBoundMs === undefined ? {} : { boundMs: options.dumpBoundMs })
      }).pipe(Effect.provide(layer(config, options))),
    timeout + reserveMs(options)
  )
}
export { itImpl as it }
