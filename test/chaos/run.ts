// One chaos run, in this process as the root actor: build the scenario's tree, run its traffic and
// inject its faults at their times, close, then check troupe's promises:
// - teardown ends within the sum of the bounds that apply (`boundMs`; failure past `boundMs + slackMs`);
// - no process carrying the run's environment tag is left (setsid escapees keep the tag), no
//   worker thread either;
// - this process has as many descriptors (and pidfds) as before;
// - every line an actor acknowledged writing was delivered to the root (unless an actor that
//   relays it — an ancestor — was killed, stopped or wedged, by a fault or by the runtime's own
//   escalation of a cancel it did not acknowledge in time: then it had no reader);
// - the registrar lists no dead actor (once the nursery is closed, only the root);
// - the right error surfaces: a run with a failing fault fails with it (every error in the Cause
//   explained by an injected fault), a run without one succeeds (or is interrupted by rootCancel).
import { Cause, Chunk, Deferred, Duration, Effect, Exit, Fiber, Logger, Option, Scope, Stream } from "effect"
import { connect as netConnect } from "node:net"
import * as LadderBounds from "../../packages/process/src/Bounds.js"
import * as WorkerBackend from "../../packages/actor/src/backend/worker/WorkerBackend.js"
import { type ActorBounds, defaultActorBounds } from "../../packages/actor/src/Bounds.js"
import { Nursery, type Portal, type Protocol, Registrar, RemoteActorError, Troupe } from "../../packages/actor/src/index.js"
import { Chaos, ChaosLive, type Member } from "./fixtures/chaos-actor.js"
import { countFds, type FdCount, killAll, TAG_VAR, taggedProcesses } from "./procfs.js"
import { depthOf, disabling, failing, type Fault, type FaultKind, members, type RootFaultKind, type Scenario } from "./scenario.js"

/** Actor bounds of a chaos run (shorter than the defaults so a run takes seconds). */
export const actorBounds: Partial<ActorBounds> = {
  cancelAckMs: 500,
  actorCancelAckMs: 500,
  nurseryCancelMs: 1500,
  parentDeathExitMs: 2000
}
/** Ladder bounds of a chaos run. */
export const ladderBounds: Partial<LadderBounds.LadderBounds> = { terminateGraceMs: 500, killGraceMs: 1000, drainGraceMs: 1000 }

const ab: ActorBounds = { ...defaultActorBounds, ...actorBounds }
const lb = { ...LadderBounds.defaultLadderBounds, ...ladderBounds }

/**
 * The teardown bound of a tree `depth` deep: each level may use a cancel ack, an actor-cancel
 * ack, the nursery's wait, the whole ladder and the drain (in the worst case one after another,
 * nested), then the root closes its listener and flushes.
 */
export const teardownBoundMs = (depth: number): number =>
  Math.max(1, depth) *
    (ab.cancelAckMs + ab.actorCancelAckMs + ab.nurseryCancelMs + lb.terminateGraceMs + lb.killGraceMs + lb.drainGraceMs) +
  ab.listenerCloseMs + ab.flushMs

/** Time after the teardown an orphan may take to notice its parent's death and exit. */
export const orphanBoundMs = ab.parentDeathExitMs + ab.nurseryCancelMs + lb.terminateGraceMs + lb.killGraceMs

/** How long a failing fault's error may take to reach the root. */
const surfaceBoundMs = ab.parentDeathExitMs + ab.nurseryCancelMs + ab.actorCancelAckMs + lb.killGraceMs + lb.drainGraceMs

export interface Options {
  /** Added to every bound a check waits on: the machine is shared and may be loaded. Default 5000 ms. */
  readonly slackMs?: number
  /** A run taking longer than this is a hang. Default 120 s. */
  readonly hardTimeoutMs?: number
  /** Print the run's warnings and errors as they come. */
  readonly verbose?: boolean
}

export interface Outcome {
  readonly seed: number
  readonly ok: boolean
  readonly problems: ReadonlyArray<string>
  readonly exit: "success" | "failure" | "interrupted" | "hang"
  readonly applied: ReadonlyArray<FaultKind | RootFaultKind>
  readonly teardownMs: number
  readonly boundMs: number
  readonly totalMs: number
  readonly linesExpected: number
  readonly linesLost: number
  readonly processesAtEnd: number
  readonly processesLeft: number
  readonly fdBefore: FdCount
  readonly fdAfter: FdCount
  readonly actors: number
  /** Errors in the Cause besides the injected one(s): connections closed, contexts cancelled by the teardown. */
  readonly secondaryErrors: number
  readonly trafficErrors: number
}

const stringify = (m: unknown): string => (Array.isArray(m) ? m.map(stringify).join(" ") : typeof m === "string" ? m : String(m))

const tokenRe = /T\d+x\d+\.\d+/g

const rawConnect = (address: Protocol.Address) =>
  address._tag === "UnixAddress" ? netConnect(address.path) : netConnect(address.port, address.hostname)

/** Connect as a stranger, write `bytes`, then close (after `hangUp` ms) or wait for the peer to. */
const stranger = (address: Protocol.Address, bytes: Uint8Array) =>
  Effect.async<void>((resume) => {
    const sock = rawConnect(address)
    const done = () => resume(Effect.void)
    sock.on("connect", () => sock.write(bytes, () => setTimeout(() => sock.destroy(), 20)))
    sock.on("error", done)
    sock.on("close", done)
    return Effect.sync(() => sock.destroy())
  })

const markerOf = (seed: number, f: Fault, victim: string) =>
  f.kind === "throw" ? `chaos-boom-${seed}-${victim}` : f.kind === "defect" ? `chaos-defect-${seed}-${victim}` : victim

/** Signal `pid`; false when it is gone already (an orphan that followed its parent). */
const signal = (pid: number, sig: NodeJS.Signals): boolean => {
  try {
    process.kill(pid, sig)
    return true
  } catch {
    return false
  }
}

let runCounter = 0

/** Run `scenario` (generated from `seed`) once; never throws. */
export const runScenario = async (seed: number, scenario: Scenario, options: Options = {}): Promise<Outcome> => {
  const slackMs = options.slackMs ?? 5000
  /** The longest a fault's injection may take (a sigkill's waits for its error to surface). */
  const faultBoundMs = surfaceBoundMs + 2 * slackMs
  const hardTimeoutMs = options.hardTimeoutMs ?? 120_000
  const problems: Array<string> = []
  const tag = `chaos-${process.pid}-${seed}-${runCounter++}`
  const runId = runCounter
  const all = members(scenario.tree)
  const depth = depthOf(scenario.tree)
  const boundMs = teardownBoundMs(depth)
  const logLines: Array<string> = []
  const capture = Logger.make(({ annotations, logLevel, message }) => {
    const text = stringify(message)
    logLines.push(text)
    // Verbose: warnings and errors, the root's own and those an actor logged (forwarded as lines).
    if (options.verbose && (!["Info", "Debug", "Trace"].includes(logLevel._tag) || /level=(WARN|ERROR|FATAL)/.test(text))) {
      const actor = Option.getOrElse(
        Option.map(
          Array.from(annotations).find(([k]) => k === "actor") ? Option.some(Array.from(annotations).find(([k]) => k === "actor")![1]) : Option.none(),
          String
        ),
        () => "root"
      )
      process.stderr.write(`  [${seed}] ${logLevel.label} ${actor}: ${text.slice(0, 400)}\n`)
    }
  })

  // Who was hit by what, and when (filled while the run goes).
  const applied: Array<{ fault: Fault; victim: string; marker: string }> = []
  const disabled = new Set<string>()
  const acked: Array<{ target: string; token: string; n: number }> = []
  const trafficErrors: Array<{ target: string; what: string; error: string }> = []
  let teardownStart = 0
  let nurseryClosedAt = 0
  let secondaryErrors = 0

  const fdBefore = countFds()
  const previousTag = process.env[TAG_VAR]
  process.env[TAG_VAR] = tag
  const t0 = Date.now()

  const body = (n: Nursery.Nursery, built: Deferred.Deferred<void>) =>
    Effect.gen(function*() {
      const tops = yield* Effect.forEach(scenario.tree, (spec) =>
        Effect.gen(function*() {
          const portal = yield* n.start(ChaosLive, { name: spec.name })
          const ctx = yield* portal.build(spec)
          return { portal, ctx }
        }), { concurrency: "unbounded" })
      const pids = new Map<string, Member>()
      for (const t of tops) for (const m of t.ctx.first) pids.set(m.name, m)
      const portals = new Map<string, Portal.Portal<typeof Chaos>>()
      for (const t of tops) portals.set(t.portal.actor.name, t.portal)
      yield* Deferred.succeed(built, undefined)
      // Portals found through the registrar live as long as the body (not the step that found them).
      const bodyScope = yield* Effect.scope

      const portalOf = (name: string) =>
        Effect.suspend(() => {
          const known = portals.get(name)
          if (known) return Effect.succeed(known)
          return Registrar.findActor(name, Chaos).pipe(
            Scope.extend(bodyScope),
            Effect.flatMap(Option.match({
              onNone: () => Effect.fail(`${name} is not registered`),
              onSome: (p) => Effect.sync(() => (portals.set(name, p), p))
            }))
          )
        })

      const affected = (name: string) => {
        const m = all.find((x) => x.name === name)!
        return disabled.has(name) || m.ancestors.some((a) => disabled.has(a))
      }

      const traffic = scenario.traffic.map((t, i) => {
        const target = all[t.target]!.name
        const token = `T${runId}x${i}`
        const step = Effect.scoped(Effect.gen(function*() {
          const p = yield* portalOf(target)
          switch (t.kind) {
            case "emit": {
              const n = yield* p.emit({ token, n: t.n })
              acked.push({ target, token, n })
              return
            }
            case "ping":
              yield* p.ping()
              return
            case "stream": {
              const got = Chunk.toReadonlyArray(yield* Stream.runCollect(p.count({ n: t.n, delayMs: 0 })))
              if (got.length !== t.n || got.some((v, j) => v !== j + 1)) yield* Effect.fail(`stream out of order or short: ${got.join(",")}`)
              return
            }
            case "echo": {
              const ctx = yield* p.echo()
              const s = yield* ctx.openStream()
              const k = Math.min(t.n, 10)
              for (let j = 0; j < k; j++) yield* s.send(`m${j}`)
              const back = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(s.receive, k)))
              if (back.join(",") !== Array.from({ length: k }, (_, j) => `m${j}!`).join(",")) yield* Effect.fail(`echo got ${back.join(",")}`)
              return
            }
          }
        }))
        return Effect.sleep(Duration.millis(t.atMs)).pipe(
          // A call to an actor already killed, stopped or wedged (or below one) would only hang: skipped.
          Effect.zipRight(Effect.suspend(() => (affected(target) ? Effect.void : step))),
          // Wide: the machine may be loaded (a stopped target met mid-call costs this much).
          Effect.timeoutFail({ duration: 10_000, onTimeout: () => "no answer within 10000 ms" }),
          Effect.catchAllCause((cause) =>
            Effect.sync(() => void trafficErrors.push({ target, what: t.kind, error: Cause.pretty(cause).split("\n")[0]! }))
          )
        )
      })

      const inject = (f: Fault): Effect.Effect<void, unknown, Troupe.Troupe | Scope.Scope> => {
        const victim = all[f.victim]!.name
        const marker = markerOf(seed, f, victim)
        const note = () => applied.push({ fault: f, victim, marker })
        const member = pids.get(victim)
        const waitForSurface = Effect.sleep(Duration.millis(surfaceBoundMs + slackMs)).pipe(
          Effect.zipRight(Effect.fail(`${f.kind} of ${victim}: no error reached the root within ${surfaceBoundMs + slackMs} ms`))
        )
        switch (f.kind) {
          case "rootCancel":
            return Effect.void // done by the driver below
          case "sigkill":
            return Effect.suspend(() => {
              if (!signal(member!.pid, "SIGKILL")) return Effect.void
              disabled.add(victim)
              note()
              return waitForSurface
            })
          case "sigstop":
            return Effect.suspend(() => {
              if (!signal(member!.pid, "SIGSTOP")) return Effect.void
              disabled.add(victim)
              note()
              return Effect.void
            })
          case "busy":
            return portalOf(victim).pipe(
              Effect.tap((p) => Effect.forkScoped(p.busy(60_000))),
              Effect.tap(() => Effect.sync(() => (disabled.add(victim), note()))),
              Effect.zipRight(Effect.sleep(Duration.millis(100)))
            )
          case "throw":
            return portalOf(victim).pipe(
              Effect.tap(() => note()),
              Effect.flatMap((p) => p.boom(marker)),
              Effect.zipRight(Effect.fail(`throw in ${victim}: the call succeeded`))
            )
          case "defect":
            return portalOf(victim).pipe(
              Effect.tap(() => note()),
              Effect.flatMap((p) => p.defect(marker)),
              Effect.zipRight(Effect.fail(`defect in ${victim}: the call succeeded`))
            )
          case "cancel":
            return Effect.gen(function*() {
              const p = yield* portalOf(victim)
              const call = yield* Effect.fork(p.sleepForever())
              yield* Effect.sleep(Duration.millis(100))
              note()
              const t = Date.now()
              yield* Fiber.interrupt(call).pipe(
                Effect.timeoutFail({ duration: ab.cancelAckMs + ab.actorCancelAckMs + lb.killGraceMs + slackMs, onTimeout: () => `cancel of a call to ${victim} hung` })
              )
              if (Date.now() - t > ab.cancelAckMs + slackMs) yield* Effect.fail(`cancel of a call to ${victim} took ${Date.now() - t} ms`)
            })
          case "slowReader":
            return Effect.gen(function*() {
              const p = yield* portalOf(victim)
              note()
              const got = Chunk.toReadonlyArray(
                yield* Stream.runCollect(p.count({ n: 150, delayMs: 0 }).pipe(Stream.tap(() => Effect.sleep(Duration.millis(3)))))
              )
              if (got.length !== 150 || got.some((v, j) => v !== j + 1)) yield* Effect.fail(`slow reader of ${victim}: got ${got.length} elements, out of order or short`)
            })
          case "closedSocket":
          case "malformed":
            return Effect.gen(function*() {
              const listed = yield* Registrar.listActors
              const info = listed.find((a) => a.name === victim)
              if (!info) return yield* Effect.fail(`${victim} is not listed by the registrar`)
              // A header announcing 100 bytes, then 3: the peer closes mid-frame. Or a whole frame that is not msgpack.
              const bytes = f.kind === "closedSocket" ? Uint8Array.from([100, 0, 0, 0, 1, 2, 3]) : Uint8Array.from([4, 0, 0, 0, 0xc1, 0xc1, 0xc1, 0xc1])
              note()
              yield* stranger(info.address, bytes)
              const p = yield* portalOf(victim)
              const name = yield* p.ping().pipe(Effect.timeoutOption(4000))
              // Another fault may have wedged, stopped or killed the victim (or an ancestor) meanwhile:
              // then no answer is what it should give.
              if (Option.isNone(name)) {
                if (!affected(victim)) yield* Effect.fail(`${victim} did not answer after a ${f.kind} stranger`)
                return
              }
              if (name.value !== victim) yield* Effect.fail(`ping answered ${name.value}`)
            })
          case "stubborn":
            return Effect.gen(function*() {
              const p = yield* portalOf(victim)
              yield* p.stubborn()
              note()
            })
          case "escapee":
            return Effect.gen(function*() {
              const p = yield* portalOf(victim)
              yield* p.escapee()
              note()
            })
        }
      }

      const faults = scenario.faults.map((f) =>
        Effect.sleep(Duration.millis(f.atMs)).pipe(
          // A call to an actor already killed, stopped or wedged (or below one) would only hang: skipped.
          Effect.zipRight(Effect.suspend(() => (f.kind !== "sigkill" && f.kind !== "sigstop" && affected(all[f.victim]!.name) ? Effect.void : inject(f)))),
          // A fault's own call (throw, defect, stubborn, …) meets its victim stopped or wedged by
          // another fault meanwhile: with no call timeout in troupe (as in tractor) it would wait
          // for ever. Bounded here; no answer is a failure only when nothing explains it.
          Effect.timeoutOption(faultBoundMs),
          Effect.flatMap((done) => {
            if (Option.isSome(done)) return Effect.void
            if (!affected(all[f.victim]!.name)) return Effect.fail(`${f.kind} of ${all[f.victim]!.name}: no answer within ${faultBoundMs} ms`)
            // It never took effect (e.g. a throw whose call met the victim stopped): not applied.
            const i = applied.findIndex((a) => a.fault === f)
            if (i >= 0) applied.splice(i, 1)
            return Effect.void
          })
        )
      )
      const script = Effect.scoped(Effect.all([...faults, ...traffic], { concurrency: "unbounded", discard: true }))
      const treeFails = Effect.forEach(tops, (t) => t.ctx.result, { concurrency: "unbounded", discard: true }).pipe(Effect.zipRight(Effect.never))
      // Teardown starts here: closing the body's scope cancels the build contexts (each subtree
      // tears itself down), then the nursery ends what is left.
      return yield* Effect.raceFirst(script, treeFails).pipe(Effect.onExit(() => Effect.sync(() => (teardownStart ||= Date.now()))))
    }).pipe(Effect.scoped)

  const program = Effect.gen(function*() {
    const built = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(Nursery.open((n) => body(n, built)))
    const rootCancel = scenario.faults.find((f) => f.kind === "rootCancel")
    if (rootCancel) {
      yield* Effect.fork(
        Deferred.await(built).pipe(
          Effect.zipRight(Effect.sleep(Duration.millis(rootCancel.atMs))),
          Effect.zipRight(Effect.suspend(() => {
            if (teardownStart !== 0) return Effect.void
            teardownStart = Date.now()
            applied.push({ fault: rootCancel, victim: "root", marker: "" })
            return Fiber.interrupt(fiber)
          }))
        )
      )
    }
    const result = yield* Fiber.await(fiber)
    nurseryClosedAt = Date.now()
    // The registrar lists no dead actor: with the nursery closed, only the root is left (every
    // actor unregistered on its way out, or was dropped by the registrar's pidfd exit watch).
    const others = Registrar.listActors.pipe(Effect.map((l) => l.filter((a) => a.parent !== null)), Effect.orElseSucceed(() => []))
    let listed = yield* others
    const until = Date.now() + slackMs
    while (listed.length > 0 && Date.now() < until) {
      yield* Effect.sleep(Duration.millis(50))
      listed = yield* others
    }
    if (listed.length > 0) {
      problems.push(`the registrar still lists ${listed.map((a) => `${a.name} (pid ${a.pid})`).join(", ")} ${slackMs} ms after the nursery closed`)
    }
    return result
  }).pipe(
    Effect.provide(Troupe.layer({ backend: scenario.backend, transport: scenario.transport, bounds: actorBounds, logLevel: "Info" })),
    Effect.provide(LadderBounds.layer(ladderBounds)),
    Effect.provide(Logger.replace(Logger.defaultLogger, capture))
  )

  let exitKind: Outcome["exit"] = "hang"
  let exit: Exit.Exit<unknown, unknown> | undefined
  try {
    const r = await Effect.runPromise(Effect.timeout(program, hardTimeoutMs).pipe(Effect.option))
    if (Option.isSome(r)) exit = r.value as Exit.Exit<unknown, unknown>
  } catch (e) {
    problems.push(`the root failed to build or close: ${String(e).split("\n")[0]}`)
  }
  const tEnd = nurseryClosedAt || Date.now()
  if (previousTag === undefined) delete process.env[TAG_VAR]
  else process.env[TAG_VAR] = previousTag
  if (teardownStart === 0) teardownStart = tEnd
  const teardownMs = tEnd - teardownStart

  if (exit === undefined) {
    if (problems.length === 0) problems.push(`hang: the run did not end within ${hardTimeoutMs} ms`)
  } else {
    exitKind = Exit.isSuccess(exit) ? "success" : Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "failure"
  }

  // The right error surfaces.
  const appliedFailing = applied.filter((a) => failing.has(a.fault.kind))
  const rootCancelled = applied.some((a) => a.fault.kind === "rootCancel")
  if (exit !== undefined) {
    // A group (a subtree's several errors, relayed as one `ActorErrorGroup`) is judged by its leaves.
    const errors = (Exit.isFailure(exit)
      ? [...Chunk.toReadonlyArray(Cause.failures(exit.cause)), ...Chunk.toReadonlyArray(Cause.defects(exit.cause))]
      : []).flatMap((e): ReadonlyArray<unknown> => (e instanceof RemoteActorError && e.errors !== undefined ? e.leaves : [e]))
    const texts = errors.map((e) => `${typeof e === "string" ? e : JSON.stringify(e) ?? ""} ${String(e)}`)
    // A failing fault explains an error naming its marker; a killed, stopped or wedged actor
    // explains an error naming it (a closed connection to it, its failure relayed).
    // A handler that holds a SIGTERM-ignoring process, a wedged or stopped actor, or a slow cancel
    // ack make the root escalate (cancel the actor): the build context into that actor then
    // ends with ContextCancelled naming the root (see the report: tractor would absorb it).
    const escalating = new Set<FaultKind>(["sigkill", "throw", "defect", "sigstop", "busy", "stubborn", "cancel"])
    const names = (t: string, name: string) => t.includes(`"${name}"`) || t.includes(`${name}@`)
    // An actor whose child was killed, stopped or wedged is torn down by its own one-cancels-all,
    // escalated when its teardown is slow: a connection to it closing (or a context into it
    // cancelled) is that, when the fault's own error lost the race to the root.
    const ancestorsOf = (victim: string) => all.find((m) => m.name === victim)?.ancestors ?? []
    const explains = (t: string) =>
      appliedFailing.some((a) => t.includes(a.marker)) ||
      applied.some((a) => escalating.has(a.fault.kind) && names(t, a.victim)) ||
      (/"(_tag|type)":"(TransportClosed|ContextCancelled)"/.test(t) &&
        applied.some((a) => escalating.has(a.fault.kind) && ancestorsOf(a.victim).some((anc) => names(t, anc))))
    // The failure the faults caused is there (a marker, or an error naming a killed, stopped or
    // wedged actor): the one-cancels-all it started may close other connections and contexts.
    const primary = texts.some((t) => explains(t))
    for (const t of texts) {
      if (explains(t)) continue
      // One-cancels-all under way: a connection closed or a context cancelled by the teardown, or a
      // later fault that found its victim already gone from the registrar.
      if (primary && (/"(_tag|type)":"(TransportClosed|ContextCancelled)"/.test(t) || /^\S+ is not (registered|listed by the registrar)/.test(t))) {
        secondaryErrors++
        continue
      }
      problems.push(`unexplained error in the Cause: ${t.slice(0, 300)}`)
    }
    if (appliedFailing.length > 0 && texts.length === 0 && !(rootCancelled && exitKind === "interrupted")) {
      problems.push(`${appliedFailing.map((a) => `${a.fault.kind}(${a.victim})`).join(", ")} applied but the run ended ${exitKind}`)
    }
    if (appliedFailing.length === 0 && exitKind === "interrupted" && !rootCancelled) problems.push("interrupted without a rootCancel")
  }
  if (teardownMs > boundMs + slackMs) problems.push(`teardown took ${teardownMs} ms, bound ${boundMs} ms (+${slackMs} slack)`)

  // Traffic to an actor nothing happened to must have worked.
  const hit = new Set(applied.filter((a) => disabling.has(a.fault.kind)).map((a) => a.victim))
  const affected = (name: string) => hit.has(name) || all.find((m) => m.name === name)!.ancestors.some((a) => hit.has(a))
  const teardownSeen = exitKind !== "success"
  for (const e of trafficErrors) {
    if (affected(e.target)) continue
    // The tree was going down (a failure or the root's cancel): traffic may meet it anywhere.
    if (teardownSeen) continue
    problems.push(`${e.what} to ${e.target} failed: ${e.error.slice(0, 300)}`)
  }

  // No line lost.
  const seen = new Set<string>()
  for (const l of logLines) for (const m of l.matchAll(tokenRe)) seen.add(m[0])
  let linesExpected = 0
  let linesLost = 0
  // The runtime's own escalation also ends an actor without its teardown: one too slow to
  // acknowledge a cancel (a loaded machine) is killed, one still running after its nursery's wait
  // terminated. What it was relaying for its subtree then has no reader, as after a fault.
  const escalated = new Set(all.filter((m) => {
    const named = new RegExp(`(^|[^a-z0-9])${m.name}@[0-9a-f-]+ (did not acknowledge cancel|is not answering|still running)`)
    return logLines.some((l) => /(killing|terminating) its (worker|process)/.test(l) && named.test(l))
  }).map((m) => m.name))
  const relayHit = (name: string) => all.find((m) => m.name === name)!.ancestors.some((a) => hit.has(a) || escalated.has(a))
  for (const a of acked) {
    if (relayHit(a.target)) continue
    linesExpected += a.n
    const lost = Array.from({ length: a.n }, (_, i) => `${a.token}.${i}`).filter((t) => !seen.has(t))
    linesLost += lost.length
    if (lost.length > 0) problems.push(`${lost.length}/${a.n} lines of ${a.target} lost (${lost.slice(0, 3).join(" ")})`)
  }

  // Nothing left: processes (by tag), worker threads, descriptors.
  const atEnd = taggedProcesses(tag)
  let left = atEnd
  const leakDeadline = Date.now() + orphanBoundMs + slackMs
  while (left.length > 0 && Date.now() < leakDeadline) {
    await new Promise((r) => setTimeout(r, 50))
    left = taggedProcesses(tag)
  }
  if (left.length > 0) {
    problems.push(`${left.length} process(es) left: ${left.map((p) => `${p.pid} [${p.state}] ${p.command}`).join("; ")}`)
    killAll(left)
  }
  const workersDeadline = Date.now() + slackMs
  while (WorkerBackend.liveWorkers() > 0 && Date.now() < workersDeadline) await new Promise((r) => setTimeout(r, 50))
  if (WorkerBackend.liveWorkers() > 0) problems.push(`${WorkerBackend.liveWorkers()} worker actor(s) left`)
  let fdAfter = countFds()
  const fdDeadline = Date.now() + 2000
  while ((fdAfter.total > fdBefore.total || fdAfter.pidfds > fdBefore.pidfds) && Date.now() < fdDeadline) {
    await new Promise((r) => setTimeout(r, 50))
    fdAfter = countFds()
  }
  if (fdAfter.total > fdBefore.total || fdAfter.pidfds > fdBefore.pidfds) {
    const diff = Object.entries(fdAfter.byKind).filter(([k, v]) => v > (fdBefore.byKind[k] ?? 0)).map(([k, v]) => `${k} +${v - (fdBefore.byKind[k] ?? 0)}`)
    problems.push(`descriptors leaked in the root: ${fdBefore.total} → ${fdAfter.total} (${diff.join(", ")})`)
  }

  return {
    seed,
    ok: problems.length === 0,
    problems,
    exit: exitKind,
    applied: applied.map((a) => a.fault.kind),
    teardownMs,
    boundMs,
    totalMs: Date.now() - t0,
    linesExpected,
    linesLost,
    processesAtEnd: atEnd.length,
    processesLeft: left.length,
    fdBefore,
    fdAfter,
    actors: all.length,
    secondaryErrors,
    trafficErrors: trafficErrors.length
  }
}
