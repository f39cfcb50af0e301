/**
 * The requester's side of a forkserver (`server.cjs`): the server runs as this runtime's child
 * through `@troupe/process` (its own process group, the ladder as finalizer), requests go to
 * its stdin and events come from its stdout, one JSON object a line.
 *
 * A server is started on first use, in a scope forked from the runtime's; when it dies (killed,
 * crashed) every actor it started is told (`onServerGone`), pending requests fail, its scope is
 * closed, and the next request starts a new one.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type { LadderBounds } from "@troupe/process/Bounds"
import { prefaultPath } from "@troupe/process/Native"
import * as Process from "@troupe/process/Process"
import type { ForkserverBounds } from "../../Bounds.js"
import type { SpawnSpec } from "../../Protocol.js"
import { childHugepages, childPrefault } from "../../TroupeConfig.js"
import { lineSplitter } from "../lines.js"
import { withHugepages } from "../process/malloc.js"
import { withPrefault } from "../process/prefault.js"

const serverPath = join(dirname(fileURLToPath(import.meta.url)), "server.cjs")

/** What the server tells about one actor. */
export interface ActorEvents {
  readonly onOutput: (stream: "stdout" | "stderr", chunk: Uint8Array) => void
  readonly onEof: (stream: "stdout" | "stderr") => void
  /** The actor exited (as seen by its OS parent, the server): `code` or `signal`. */
  readonly onExit: (code: number | null, signal: string | null) => void
  /** The server died: no more events will come. */
  readonly onServerGone: () => void
}

export interface SpawnRequest {
  /** Node flags, then the script and its arguments (`node <flags> warm-entry.cjs <cmd…>`). */
  readonly flags: ReadonlyArray<string>
  readonly cmd: ReadonlyArray<string>
  /** The actor's whole environment. */
  readonly env: Readonly<Record<string, string>>
  readonly cwd?: string | undefined
  /** The `--troupe-child` argument. */
  readonly args: string
  /** The actor's spawn spec (`LaunchRequest.spec`), handed to the child with the rest over its spec channel. */
  readonly spawn?: SpawnSpec | undefined
  /**
   * Start a child for this request, never hand out a warm one: a warm child loaded the actor's
   * module in the server's environment and working directory, not the ones this actor was given.
   */
  readonly cold?: boolean | undefined
}

export interface Server {
  readonly pid: number
  /**
   * What a warm child loads the actor's module under: this process's environment and working
   * directory when the server started (`wouldDiffer`).
   */
  readonly loadsUnder: { readonly env: Readonly<Record<string, string | undefined>>; readonly cwd: string }
  readonly isDead: () => boolean
  /** Ask for an actor; succeeds with its pid, fails with a reason (server gone, spawn failed). */
  readonly spawn: (rid: string, request: SpawnRequest, events: ActorEvents) => Effect.Effect<number, string>
  /** Keep the entry of `flags` (none: the server warms only those) and `cmd` warm from now on. */
  readonly warm: (entry: Pick<SpawnRequest, "flags" | "cmd">) => void
}

/**
 * The server's environment: this process's, but NODE_EXTRA_CA_CERTS (read at every Node start,
 * ~35 ms here; the server makes no TLS connection) travels under another name, and the server
 * gives it back to the children it starts (`server.cjs`).
 */
/** GLIBC_TUNABLES with malloc's huge pages added, as the process backend adds them (`withHugepages`). */
const childTunables = (given: string | undefined): string | undefined =>
  withHugepages(given === undefined ? {} : { GLIBC_TUNABLES: given })["GLIBC_TUNABLES"]

/** LD_PRELOAD with the prefault object first, as the process backend adds it (`withPrefault`). */
const childPreload = (given: string | undefined): string | undefined =>
  withPrefault(given === undefined ? {} : { LD_PRELOAD: given })["LD_PRELOAD"]

const serverEnv = (hugepages: boolean, prefault: boolean): Record<string, string | undefined> => {
  const { NODE_EXTRA_CA_CERTS: ca, ...env } = process.env
  return {
    ...env,
    ...(ca === undefined ? {} : { TROUPE_FORKSERVER_EXTRA_CA_CERTS: ca }),
    // The server's children start with malloc's huge pages (`TroupeConfig.childHugepages`, as the
    // process backend's: backend/process/malloc.ts): the GLIBC_TUNABLES they are exec'd with.
    // Each then takes its actor's environment, GLIBC_TUNABLES included, from its spec.
    ...(hugepages ? { TROUPE_FORKSERVER_GLIBC_TUNABLES: childTunables(env["GLIBC_TUNABLES"]) } : {}),
    // And with the prefault object preloaded (`TroupeConfig.childPrefault`, backend/process/prefault.ts),
    // not the server itself: the LD_PRELOAD they are exec'd with; the spec's environment replaces it.
    ...(prefault && prefaultPath() !== undefined ? { TROUPE_FORKSERVER_LD_PRELOAD: childPreload(env["LD_PRELOAD"]) } : {})
  }
}

/** Start a server in the current scope; `onDead` runs once when it exits. */
const start = (bounds: ForkserverBounds, ladder: LadderBounds, onDead: () => void): Effect.Effect<Server, string, Scope.Scope> =>
  Effect.gen(function*() {
    const rt = yield* Effect.runtime<never>()
    const pending = new Map<string, Deferred.Deferred<number, string>>()
    const actors = new Map<string, ActorEvents>()
    const up = yield* Deferred.make<number, string>()
    let dead = false
    const settle = (rid: string, exit: Exit.Exit<number, string>) => {
      const d = pending.get(rid)
      pending.delete(rid)
      if (d !== undefined) Deferred.unsafeDone(d, exit)
    }
    const onEvent = (line: string) => {
      let e: any
      try {
        e = JSON.parse(line)
      } catch {
        return
      }
      if (e.t === "up") return Deferred.unsafeDone(up, Exit.succeed(e.pid))
      const events = actors.get(e.rid)
      switch (e.t) {
        case "spawned":
          settle(e.rid, Exit.succeed(e.pid))
          return
        case "failed":
          settle(e.rid, Exit.fail(String(e.reason)))
          actors.delete(e.rid)
          return
        case "out":
          return events?.onOutput(e.s, Buffer.from(e.d, "base64"))
        case "eof":
          return events?.onEof(e.s)
        case "exit":
          actors.delete(e.rid)
          return events?.onExit(e.code, e.signal)
      }
    }
    const lines = lineSplitter(onEvent)
    const errLines = lineSplitter((line) =>
      Runtime.runFork(rt)(Effect.logWarning(`forkserver: ${line}`).pipe(Effect.annotateLogs({ stream: "stderr" })))
    )
    const loadsUnder = { env: { ...process.env }, cwd: process.cwd() }
    const hugepages = yield* Effect.mapError(childHugepages, (e) => `cannot start the forkserver: ${e}`)
    const prefault = yield* Effect.mapError(childPrefault, (e) => `cannot start the forkserver: ${e}`)
    const handle = yield* Process.spawn({
      command: process.execPath,
      args: [serverPath, JSON.stringify({ ...bounds, terminateGraceMs: ladder.terminateGraceMs, killGraceMs: ladder.killGraceMs })],
      env: serverEnv(hugepages, prefault),
      stdin: "pipe",
      stdout: { onChunk: lines, onEnd: () => lines.flush() },
      stderr: { onChunk: errLines, onEnd: () => errLines.flush() },
      bounds: ladder
    }).pipe(Effect.mapError((e) => `cannot start the forkserver: ${e.message}`))
    const requests = yield* Queue.unbounded<Uint8Array>()
    yield* Stream.fromQueue(requests).pipe(Stream.run(handle.stdin), Effect.interruptible, Effect.forkScoped)
    yield* handle.exit.pipe(
      Effect.tap(() =>
        Effect.sync(() => {
          dead = true
          for (const d of pending.values()) Deferred.unsafeDone(d, Exit.fail("the forkserver died"))
          pending.clear()
          const gone = [...actors.values()]
          actors.clear()
          for (const a of gone) a.onServerGone()
          onDead()
        })
      ),
      Effect.interruptible,
      Effect.forkScoped
    )
    // Interruptible as a whole: a race or a timeout inside an uninterruptible region waits for its loser.
    yield* Deferred.await(up).pipe(
      Effect.timeoutFail({ duration: bounds.requestMs, onTimeout: () => `the forkserver did not start within ${bounds.requestMs} ms` }),
      Effect.raceFirst(Effect.flatMap(handle.exit, (s) => Effect.fail(`the forkserver exited at start (${JSON.stringify(s)})`))),
      Effect.interruptible
    )
    const encoder = new TextEncoder()
    return {
      pid: handle.pid,
      loadsUnder,
      isDead: () => dead,
      spawn: (rid, request, events) =>
        Effect.suspend(() => {
          if (dead) return Effect.fail("the forkserver died")
          const d = Deferred.unsafeMake<number, string>(undefined as any)
          pending.set(rid, d)
          actors.set(rid, events)
          Queue.unsafeOffer(requests, encoder.encode(`${JSON.stringify({ t: "spawn", rid, ...request })}\n`))
          return Deferred.await(d).pipe(
            Effect.timeoutFail({ duration: bounds.requestMs, onTimeout: () => `the forkserver did not answer within ${bounds.requestMs} ms` }),
            Effect.interruptible
          )
        }),
      warm: (entry) => {
        if (!dead) Queue.unsafeOffer(requests, encoder.encode(`${JSON.stringify({ t: "warm", flags: entry.flags, cmd: entry.cmd })}\n`))
      }
    } satisfies Server
  })

/**
 * The server of one runtime, started on first `get` (in a scope forked from `scope`) and again
 * after it died.
 */
export const make = (scope: Scope.Scope, bounds: ForkserverBounds, ladder: LadderBounds) => {
  let current: { readonly server: Server; readonly scope: Scope.CloseableScope } | undefined
  const lock = Effect.unsafeMakeSemaphore(1)
  const get: Effect.Effect<Server, string> = lock.withPermits(1)(Effect.suspend(() => {
    if (current !== undefined && !current.server.isDead()) return Effect.succeed(current.server)
    return Effect.gen(function*() {
      if (current !== undefined) yield* Scope.close(current.scope, Exit.void)
      current = undefined
      const own = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      const rt = yield* Effect.runtime<never>()
      const server = yield* start(bounds, ladder, () => {
        // Its scope is closed by the next `get` (or with the runtime): not from the exit watcher
        // that runs in it.
        Runtime.runFork(rt)(Effect.logWarning("forkserver: the server died; the next spawn starts a new one"))
      }).pipe(
        Scope.extend(own),
        Effect.onError(() => Scope.close(own, Exit.void))
      )
      current = { server, scope: own }
      return server
    })
  }))
  return { get, current: () => current?.server }
}

/**
 * Whether an actor asked with `options` would load its module under another environment or
 * working directory than a warm child of `server` did (this process's, when the server started):
 * its environment (this process's now, with `options.env` over it; `undefined` removes a variable)
 * or its `cwd` (the backend passes this process's when the actor is given none) differ. Then it
 * starts cold (`SpawnRequest.cold`), so its module's top-level code sees what it was given, as
 * under the process backend. (A root that changes its own `process.env` after the server started
 * gets cold starts from then on, for the same reason.)
 */
export const wouldDiffer = (
  server: Pick<Server, "loadsUnder">,
  options: { readonly env?: Readonly<Record<string, string | undefined>> | undefined; readonly cwd?: string | undefined } | undefined
): boolean => {
  if (options?.cwd !== undefined && resolve(options.cwd) !== server.loadsUnder.cwd) return true
  const then = server.loadsUnder.env
  const now: Record<string, string | undefined> = { ...process.env, ...options?.env }
  for (const k of Object.keys(now)) if (now[k] !== then[k]) return true
  for (const k of Object.keys(then)) if (now[k] !== then[k]) return true
  return false
}
