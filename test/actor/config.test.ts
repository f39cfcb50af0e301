/**
 * Configuration through Effect `Config` (issue 11 §3): docs/configuration.md lists exactly the
 * keys `TroupeConfig` defines, with the defaults and accepted values the `Config` values really
 * have; a wrong value fails at start naming the variable and what it accepts; `Troupe.layerConfig`
 * builds the runtime from configuration.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, type Config, ConfigProvider, Duration, Effect, Exit, LogLevel, Option } from "effect"
import { readFileSync } from "node:fs"
import { Troupe } from "../../packages/actor/src/index.js"
import { defaultActorBounds, Ladder } from "../../packages/actor/src/Bounds.js"
import * as TroupeConfig from "../../packages/actor/src/TroupeConfig.js"

const docs = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8")

/** The rows of the `## Environment` table: variable → [type, default, unit]. */
const documented = (): Map<string, { type: string; default: string; unit: string }> => {
  const section = docs.slice(docs.indexOf("## Environment"), docs.indexOf("### Read raw"))
  const rows = new Map<string, { type: string; default: string; unit: string }>()
  for (const line of section.split("\n")) {
    const m = /^\| `(TROUPE_[A-Z_]+)` \| (.+?) \| (.+?) \| (.+?) \|/.exec(line.replace(/\\\|/g, "\u0000"))
    if (m !== null) rows.set(m[1]!, { type: m[2]!.replace(/\u0000/g, "|"), default: m[3]!, unit: m[4]! })
  }
  return rows
}

const withEnv = (entries: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(entries))))

const read = <A>(config: Config.Config<A>, env: Record<string, string> = {}) => Effect.runSyncExit(Effect.orDie(config).pipe(withEnv(env)))

const failure = <A>(config: Config.Config<A>, env: Record<string, string>): string => {
  const exit = Effect.runSyncExit(config.pipe(withEnv(env)))
  if (Exit.isSuccess(exit)) throw new Error(`expected ${JSON.stringify(env)} to be rejected`)
  return Cause.pretty(exit.cause)
}

/** The literal configs and their variables, as defined. */
const literals: ReadonlyArray<[string, Config.Config<unknown>, (a: any) => string]> = [
  ["TROUPE_LOG", TroupeConfig.cliLogLevel, (l: LogLevel.LogLevel) => l._tag],
  ["TROUPE_LOG_LEVEL", TroupeConfig.childLogLevel, (l: LogLevel.LogLevel) => l._tag],
  ["TROUPE_SPAWN_BACKEND", TroupeConfig.spawnBackend, String],
  ["TROUPE_TRANSPORT", TroupeConfig.transport, String],
  ["TROUPE_CHILD_ENTRY", TroupeConfig.childEntry, String]
]

describe("configuration", () => {
  it("docs/configuration.md lists exactly TroupeConfig.keys, with their type, default and unit", () => {
    const rows = documented()
    expect([...rows.keys()].sort()).toEqual(TroupeConfig.keys.map((k) => k.name).sort())
    for (const key of TroupeConfig.keys) expect(rows.get(key.name), key.name).toEqual({ type: key.type, default: key.default, unit: key.unit })
  })

  it("the documented defaults and accepted values are the Config definitions' own", () => {
    const rows = documented()
    for (const [name, config, show] of literals) {
      const unset = read(config)
      expect(Exit.isSuccess(unset) && show(unset.value), name).toBe(rows.get(name)!.default)
      // The accepted values, from the error the definition itself produces.
      const accepted = /expected one of (.+?) \(any case\)/.exec(failure(config, { [name]: "no-such-value" }))![1]!.split(", ")
      const type = rows.get(name)!.type
      if (type === "log level") expect(accepted).toEqual(["All", "Trace", "Debug", "Info", "Warning", "Error", "Fatal", "None"])
      else expect(accepted.join(" | "), name).toBe(type)
    }
    const registrar = read(TroupeConfig.registrar)
    expect(Exit.isSuccess(registrar) && Option.isNone(registrar.value)).toBe(true)
    // Bounds: unset → none overridden (the documented defaults are defaultActorBounds).
    expect(read(TroupeConfig.bounds)).toEqual(Exit.succeed({}))
    expect(read(TroupeConfig.ladderBounds)).toEqual(Exit.succeed({}))
    for (const key of Object.keys(defaultActorBounds) as Array<keyof typeof defaultActorBounds>) {
      expect(rows.get(TroupeConfig.boundVariable(key))?.default).toBe(String(defaultActorBounds[key]))
    }
    for (const key of Object.keys(Ladder.defaultLadderBounds) as Array<keyof Ladder.LadderBounds>) {
      expect(rows.get(TroupeConfig.boundVariable(key))?.default).toBe(String(Ladder.defaultLadderBounds[key]))
    }
  })

  it("bounds accept milliseconds or Effect duration strings; limits integers", () => {
    const exit = read(TroupeConfig.bounds, {
      TROUPE_CANCEL_ACK: "2 seconds",
      TROUPE_NURSERY_CANCEL: "750",
      TROUPE_BOOT: "500 millis",
      TROUPE_MAX_FRAME_BYTES: "1024",
      TROUPE_HANDSHAKE: "3s",
      TROUPE_FLUSH: "250ms"
    })
    expect(exit).toEqual(Exit.succeed({
      cancelAckMs: 2000, nurseryCancelMs: 750, bootMs: 500, maxFrameBytes: 1024, handshakeMs: 3000, flushMs: 250
    }))
    expect(read(TroupeConfig.ladderBounds, { TROUPE_TERMINATE_GRACE: "5 seconds", TROUPE_POST_EXIT_GRACE_MAX: "300" }))
      .toEqual(Exit.succeed({ terminateGraceMs: 5000, postExitGraceMaxMs: 300 }))
  })

  it("a wrong value names the variable and what it accepts", () => {
    expect(failure(TroupeConfig.cliLogLevel, { TROUPE_LOG: "verbose" })).toContain(
      `Invalid data at TROUPE_LOG: "expected one of All, Trace, Debug, Info, Warning, Error, Fatal, None (any case); got 'verbose'"`
    )
    expect(failure(TroupeConfig.bounds, { TROUPE_CANCEL_ACK: "soon" })).toMatch(
      /TROUPE_CANCEL_ACK: "expected a number of milliseconds, or a duration such as 2s, 500ms, "2 seconds"; got 'soon'/
    )
    expect(failure(TroupeConfig.bounds, { TROUPE_STREAM_WINDOW: "-1" })).toMatch(/TROUPE_STREAM_WINDOW: "expected a non-negative integer; got '-1'/)
    expect(failure(TroupeConfig.registrar, { TROUPE_REGISTRAR: "tcp:nope" })).toMatch(/TROUPE_REGISTRAR: "expected unix:PATH/)
  })

  it.live("Troupe.layerConfig fails at start on a wrong value, naming it", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.provide(Troupe.self, Troupe.layerConfig()).pipe(
        withEnv({ TROUPE_SPAWN_BACKEND: "thread" })
      ))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(Cause.pretty(exit.cause)).toContain(
          `Invalid data at TROUPE_SPAWN_BACKEND: "expected one of process, worker, forkserver, none (any case); got 'thread'"`
        )
      }
      // Troupe.layer reads TROUPE_LOG_LEVEL too: a wrong one stops it (a defect naming it).
      const level = yield* Effect.exit(Effect.provide(Troupe.self, Troupe.layer({ backend: "none" })).pipe(
        withEnv({ TROUPE_LOG_LEVEL: "verbose" })
      ))
      expect(Exit.isFailure(level) && Cause.pretty(level.cause)).toMatch(/TROUPE_LOG_LEVEL.*got 'verbose'/)
    }))

  it.live("Troupe.layerConfig builds the runtime from configuration; overrides win", () =>
    Effect.gen(function*() {
      const [rt, ladder] = yield* Effect.provide(Effect.all([Troupe.Troupe, Ladder.Bounds]), Troupe.layerConfig({ bounds: { flushMs: 123 } })).pipe(
        withEnv({
          TROUPE_SPAWN_BACKEND: "none",
          TROUPE_LOG_LEVEL: "debug",
          TROUPE_CANCEL_ACK: "2 seconds",
          TROUPE_FLUSH: "999",
          TROUPE_TERMINATE_GRACE: "5 seconds"
        })
      )
      expect(ladder).toEqual({ ...Ladder.defaultLadderBounds, terminateGraceMs: 5000 })
      expect(rt.config.bounds.cancelAckMs).toBe(2000)
      expect(rt.config.bounds.flushMs).toBe(123)
      expect(rt.config.bounds.bootMs).toBe(defaultActorBounds.bootMs)
      expect(rt.config.logLevel).toBe(LogLevel.Debug.label)
      expect(rt.config.transport).toBe("uds")
    }))

  it.live("Troupe.layer's time bounds take Duration inputs as well as numbers of ms", () =>
    Effect.gen(function*() {
      const rt = yield* Effect.provide(
        Troupe.Troupe,
        Troupe.layer({ backend: "none", bounds: { cancelAckMs: "2 seconds", nurseryCancelMs: Duration.millis(1500), flushMs: 250, streamWindow: 8 } })
      )
      expect(rt.config.bounds.cancelAckMs).toBe(2000)
      expect(rt.config.bounds.nurseryCancelMs).toBe(1500)
      expect(rt.config.bounds.flushMs).toBe(250)
      expect(rt.config.bounds.streamWindow).toBe(8)
      expect(rt.config.bounds.bootMs).toBe(defaultActorBounds.bootMs)
    }))
})
