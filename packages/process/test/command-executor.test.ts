/**
 * The `CommandExecutor` drop-in: the @effect/platform `Command` API on top of `Process.spawn`,
 * and the same hostile children run against `NodeCommandExecutor` for comparison.
 *
 * NodeCommandExecutor's finalizer awaits exit without a bound, so its side is observed through
 * `Effect.disconnect` (the caller gets control back; the stuck finalizer goes on in the
 * background) and its children are killed by pgid at the end of each test.
 */
import * as Command from "@effect/platform/Command"
import { CommandExecutor as PlatformExecutor } from "@effect/platform/CommandExecutor"
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option, Stream } from "effect"
import * as TroupeExecutor from "../src/CommandExecutor.js"
import { isAlive } from "../src/Liveness.js"

const nodeLayer = NodeCommandExecutor.layer.pipe(Layer.provide(NodeFileSystem.layer))
const troupeLayer = TroupeExecutor.layer

const waitDead = (pids: ReadonlyArray<number>, ms: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (pids.some((p) => isAlive(p)) && Date.now() < deadline) yield* Effect.sleep(Duration.millis(20))
    return pids.filter((p) => isAlive(p))
  })

const killGroups = (pids: ReadonlyArray<number>) =>
  Effect.sync(() => {
    for (const p of pids) {
      try {
        process.kill(-p, "SIGKILL")
      } catch {}
      try {
        process.kill(p, "SIGKILL")
      } catch {}
    }
  })

/** Pids a fixture prints on stderr as `PID <n>` lines. */
const pidsOf = (text: string) => [...text.matchAll(/PID (\d+)/g)].map((m) => Number(m[1]))

describe("CommandExecutor layer (drop-in for NodeCommandExecutor)", () => {
  it.live("string, lines, exitCode, stdin from a stream, and a pipeline", () =>
    Effect.gen(function*() {
      expect(yield* Command.string(Command.make("sh", "-c", "printf 'a\\nb\\n'"))).toBe("a\nb\n")
      expect(yield* Command.lines(Command.make("sh", "-c", "printf 'a\\nb\\n'"))).toEqual(["a", "b"])
      expect(yield* Command.exitCode(Command.make("sh", "-c", "exit 7"))).toBe(7)
      const upper = Command.make("tr", "a-z", "A-Z").pipe(Command.feed("hello"))
      expect(yield* Command.string(upper)).toBe("HELLO")
      const piped = Command.make("printf", "x\\ny\\nx\\n").pipe(Command.pipeTo(Command.make("sort", "-u")))
      expect(yield* Command.lines(piped)).toEqual(["x", "y"])
      const env = yield* Command.string(Command.make("sh", "-c", "echo $TROUPE_X").pipe(Command.env({ TROUPE_X: "42" })))
      expect(env).toBe("42\n")
    }).pipe(Effect.provide(troupeLayer)), 20_000)

  it.live("ENOENT fails with a SystemError NotFound", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(Command.exitCode(Command.make("/no/such/troupe-bin")))
      expect(e._tag).toBe("SystemError")
      expect((e as { reason: string }).reason).toBe("NotFound")
    }).pipe(Effect.provide(troupeLayer)), 10_000)

  it.live("kill() signals the group and is bounded for a SIGTERM-ignorer", () =>
    Effect.gen(function*() {
      const proc = yield* PlatformExecutor.pipe(Effect.flatMap((ex) =>
        ex.start(Command.make("sh", "-c", "trap '' TERM; echo PID $$ >&2; sleep 20 & wait"))
      ))
      const t0 = Date.now()
      yield* Effect.sleep(Duration.millis(200))
      yield* proc.kill("SIGTERM")
      expect(Date.now() - t0).toBeLessThan(10_000) // 2 s grace, then SIGKILL; the child lives 20 s
      expect(yield* proc.isRunning).toBe(false)
      expect(yield* waitDead([proc.pid], 2000)).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(troupeLayer)), 30_000)
})

/**
 * The hostile children of issue #2, each against both executors. `hang` = the call did not
 * return within `boundMs` (the executor would have waited for the child's whole life).
 */
interface HostileCase {
  readonly run: Effect.Effect<Option.Option<unknown>, unknown, PlatformExecutor>
  readonly expectOutput: string | undefined
}
const hostile: Record<string, HostileCase> = {
  "SIGTERM-ignorer under a 1 s timeout": {
    run: Effect.scoped(Effect.gen(function*() {
      const ex = yield* PlatformExecutor
      const proc = yield* ex.start(Command.make("sh", "-c", "trap '' TERM; echo PID $$ >&2; sleep 20"))
      yield* Effect.fork(proc.stderr.pipe(Stream.decodeText(), Stream.runForEach((t) => Effect.sync(() => pids.push(...pidsOf(t))))))
      return yield* proc.exitCode.pipe(Effect.timeout(Duration.seconds(1)), Effect.option)
    })),
    expectOutput: undefined
  },
  "setsid escapee holding stdout after RESULT_LINE": {
    run: Effect.gen(function*() {
      const out = yield* Command.string(Command.make(
        "sh",
        "-c",
        "echo RESULT_LINE; setsid sh -c 'echo PID $$ > /tmp/troupe-escapee-'$$'; sleep 20' & sleep 0.1; echo PID $$ >&2; exit 0"
      ))
      return Option.some(out)
    }),
    expectOutput: "RESULT_LINE\n"
  },
  "1 MiB on stdout that nobody reads": {
    run: Effect.gen(function*() {
      const code = yield* Command.exitCode(Command.make("sh", "-c", "echo PID $$ >&2; head -c 1048576 /dev/zero"))
      return Option.some(code)
    }),
    expectOutput: undefined
  }
}
const pids: Array<number> = []

describe("hostile children: NodeCommandExecutor vs troupe's CommandExecutor", () => {
  for (const [name, c] of Object.entries(hostile)) {
    it.live(`${name}: troupe returns within the bound, nothing left`, () =>
      Effect.gen(function*() {
        pids.length = 0
        const t0 = Date.now()
        const result = yield* c.run.pipe(Effect.provide(troupeLayer))
        const ms = Date.now() - t0
        // The bound is ~3.1 s (1 s timeout + 2 s SIGTERM grace); the child lives 20 s. The wide
        // margin is for a loaded machine, not the product bound.
        expect(ms).toBeLessThan(10_000)
        if (c.expectOutput !== undefined) expect(Option.getOrNull(result)).toBe(c.expectOutput)
        const escapees = (yield* Effect.sync(() => scanEscapees())).concat(pids)
        expect(yield* waitDead(escapees, 1500)).toEqual([])
      }), 30_000)

    it.live(`${name}: NodeCommandExecutor does not return within the bound`, () =>
      Effect.gen(function*() {
        pids.length = 0
        const fiber = yield* Effect.fork(Effect.disconnect(c.run.pipe(Effect.provide(nodeLayer))))
        const r = yield* Fiber.join(fiber).pipe(Effect.timeout(Duration.seconds(3)), Effect.option)
        expect(Option.isNone(r)).toBe(true) // still waiting on the child: the documented hang
        const leftovers = scanEscapees().concat(pids)
        yield* killGroups(leftovers)
        yield* Fiber.interrupt(fiber).pipe(Effect.timeout(Duration.seconds(2)), Effect.ignore)
        expect(yield* waitDead(leftovers, 2000)).toEqual([])
      }), 15_000)
  }
})

/** Escapee pids the setsid fixture wrote to /tmp/troupe-escapee-<leader>; files are removed. */
import { readdirSync, readFileSync, rmSync } from "node:fs"
function scanEscapees(): Array<number> {
  const out: Array<number> = []
  for (const f of readdirSync("/tmp").filter((f) => f.startsWith("troupe-escapee-"))) {
    out.push(...pidsOf(readFileSync(`/tmp/${f}`, "utf8")))
    rmSync(`/tmp/${f}`, { force: true })
  }
  return out
}
