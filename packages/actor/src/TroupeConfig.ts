/**
 * Every setting troupe reads from its environment, as Effect `Config` values with validation.
 *
 * A wrong value fails where it is read, with a `ConfigError` naming the variable and what it
 * accepts, e.g. `(Invalid data at TROUPE_LOG_LEVEL: "expected one of All, Trace, Debug, Info,
 * Warning, Error, Fatal, None (any case); got 'verbose'")`. A missing variable takes its default.
 * The values are read through the current `ConfigProvider` (the environment by default), so tests
 * and programs can supply them with `ConfigProvider.fromMap`/`Layer.setConfigProvider`.
 *
 * `keys` describes each variable (type, default, unit); docs/configuration.md lists the same keys
 * and a test keeps the two equal. Variables the parent passes to its children as part of the
 * spawn protocol (`TROUPE_BOOT_KEY`, `TROUPE_ACTOR`, and `TROUPE_LOG_LEVEL` as a child reads it)
 * are read raw by the lean child entry: they are written by troupe itself, already validated.
 * So are `TROUPE_DISABLE_NATIVE`/`TROUPE_NATIVE_PATH` (`@troupe/process`, read synchronously when
 * the addon loads, before any Effect runs) and `TROUPE_REQUIRE_NATIVE` (the install script).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { type ActorBounds, defaultActorBounds, Ladder } from "./Bounds.js"
import type { Address } from "./Protocol.js"

/** One configuration key as docs/configuration.md lists it. */
export interface KeyInfo {
  readonly name: string
  /** The accepted values, as the docs show them (`duration`, `integer`, `process \| worker`, …). */
  readonly type: string
  /** The default, as the docs show it (`-` when unset means "not set"). */
  readonly default: string
  /** `ms`, `bytes`, … or `-`. */
  readonly unit: string
}

const invalid = (message: string) => ConfigError.InvalidData([], message)

/** A string variable restricted to `values` (case-insensitive); the error lists them. */
export const literal = <const L extends string>(name: string, values: ReadonlyArray<L>): Config.Config<L> =>
  Config.string(name).pipe(Config.mapOrFail((text) => {
    const found = values.find((v) => v.toLowerCase() === text.trim().toLowerCase())
    return found === undefined
      ? Either.left(invalid(`expected one of ${values.join(", ")} (any case); got '${text}'`))
      : Either.right(found)
  }))

const levelNames = ["All", "Trace", "Debug", "Info", "Warning", "Error", "Fatal", "None"] as const

/**
 * The level a name stands for: a `LogLevel` literal (`Warning`, `None`) or label (`WARN`, `OFF`),
 * any case; undefined otherwise.
 */
export const parseLogLevel = (text: string): LogLevel.LogLevel | undefined => {
  const t = text.trim().toLowerCase()
  const name = levelNames.find((n) => n.toLowerCase() === t)
  return name !== undefined ? LogLevel.fromLiteral(name) : LogLevel.allLevels.find((l) => l.label.toLowerCase() === t)
}

/** A log level name (`debug`, `Warning`, …, any case). */
export const logLevel = (name: string): Config.Config<LogLevel.LogLevel> =>
  literal(name, levelNames).pipe(Config.map((l) => LogLevel.fromLiteral(l)))

/**
 * A duration: a number of milliseconds (`500`), a number with a unit (`500ms`, `2s`, `1m`, `1h`)
 * or an Effect duration string (`"2 seconds"`, `"500 millis"`). Returns milliseconds.
 */
export const durationMs = (name: string): Config.Config<number> =>
  Config.string(name).pipe(Config.mapOrFail((text) => {
    const t = text.trim()
    if (/^\d+(\.\d+)?$/.test(t)) return Either.right(Number(t))
    const unit = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(t)
    if (unit !== null) return Either.right(Number(unit[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit[2] as "ms"])
    const d = Duration.decodeUnknown(t)
    return Option.isSome(d) && Duration.isFinite(d.value)
      ? Either.right(Duration.toMillis(d.value))
      : Either.left(invalid(`expected a number of milliseconds, or a duration such as 2s, 500ms, "2 seconds"; got '${text}'`))
  }))

/** A non-negative integer. */
export const count = (name: string): Config.Config<number> =>
  Config.string(name).pipe(Config.mapOrFail((text) =>
    /^\d+$/.test(text.trim())
      ? Either.right(Number(text.trim()))
      : Either.left(invalid(`expected a non-negative integer; got '${text}'`))
  ))

/** `unix:/path/to.sock`, a bare socket path, or `tcp:HOST:PORT`. */
export const parseAddress = (text: string): Address | undefined => {
  if (text.startsWith("tcp:")) {
    const m = /^tcp:(.+):(\d+)$/.exec(text)
    return m === null ? undefined : { _tag: "TcpAddress", hostname: m[1]!, port: Number(m[2]) }
  }
  const path = text.startsWith("unix:") ? text.slice(5) : text
  return path.length > 0 ? { _tag: "UnixAddress", path } : undefined
}

/** An actor address (see `parseAddress`). */
export const address = (name: string): Config.Config<Address> =>
  Config.string(name).pipe(Config.mapOrFail((text) => {
    const a = parseAddress(text)
    return a === undefined ? Either.left(invalid(`expected unix:PATH, a socket path, or tcp:HOST:PORT; got '${text}'`)) : Either.right(a)
  }))

// ---------------------------------------------------------------------------------------------
// The keys

/** `TROUPE_LOG_LEVEL`: the log level a root gives its children. Default Warning. */
export const childLogLevel = logLevel("TROUPE_LOG_LEVEL").pipe(Config.withDefault(LogLevel.Warning))

/** `TROUPE_LOG`: the `troupe` CLI's own log level (stderr). Default Warning. */
export const cliLogLevel = logLevel("TROUPE_LOG").pipe(Config.withDefault(LogLevel.Warning))

/**
 * `TROUPE_SPAWN_BACKEND`: how a root starts children by default (`Troupe.layerConfig`, and
 * `Troupe.layer` without `backend`; a nursery or a start may name another). Default process.
 */
export const spawnBackend = literal("TROUPE_SPAWN_BACKEND", ["process", "worker", "forkserver", "none"]).pipe(
  Config.withDefault("process" as const)
)

/** `TROUPE_TRANSPORT`: `Troupe.layerConfig`'s listener transport. Default uds. */
export const transport = literal("TROUPE_TRANSPORT", ["uds", "tcp"]).pipe(Config.withDefault("uds" as const))

/** `TROUPE_CHILD_ENTRY`: how process children load their module. Default bundle. */
export const childEntry = literal("TROUPE_CHILD_ENTRY", ["bundle", "loader"]).pipe(Config.withDefault("bundle" as const))

/**
 * `TROUPE_CHILD_SNAPSHOT`: a process child starts from its bundle's V8 startup snapshot for its
 * Node flags once there is one (`backend/process/snapshot.ts`; not with NODE_OPTIONS, `inspect`
 * or an `--inspect…`/`--debug…` flag), read at each spawn. Default true; false: always from the bundle and its code cache.
 */
export const childSnapshot = Config.boolean("TROUPE_CHILD_SNAPSHOT").pipe(Config.withDefault(true))

/**
 * `TROUPE_CHILD_HUGEPAGES`: a process child's glibc malloc backs its large allocations with
 * transparent huge pages (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1` at exec, restored in the child;
 * `backend/process/malloc.ts`): fewer page faults while the child reads its startup snapshot.
 * Read at each spawn. Default true.
 */
export const childHugepages = Config.boolean("TROUPE_CHILD_HUGEPAGES").pipe(Config.withDefault(true))

/**
 * `TROUPE_CHILD_PREFAULT`: a process child starts with `@troupe/process`'s `troupe_prefault.node`
 * in `LD_PRELOAD` (restored in the child; `backend/process/prefault.ts`): the kernel faults in
 * each anonymous mapping of 64 KiB to 4 MiB at once, not page by page, as the child deserializes
 * its startup snapshot and runs. Only where the addon was built. Read at each spawn. Default true.
 */
export const childPrefault = Config.boolean("TROUPE_CHILD_PREFAULT").pipe(Config.withDefault(true))

/** `TROUPE_REGISTRAR`: the registrar to use (`Troupe.layerConfig`) or list (`troupe ps`); unset: embedded / none. */
export const registrar = Config.option(address("TROUPE_REGISTRAR"))

/** `TROUPE_SECRET`: the tree's shared secret (see `Troupe.Options.secret`). */
export const secret = Config.option(Config.redacted("TROUPE_SECRET"))

const snake = (key: string) => key.replace(/Ms$/, "").replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()

/**
 * The environment variable of one actor or ladder bound: `cancelAckMs` → `TROUPE_CANCEL_ACK`,
 * `terminateGraceMs` → `TROUPE_TERMINATE_GRACE`, `maxFrameBytes` → `TROUPE_MAX_FRAME_BYTES`.
 */
export const boundVariable = (key: keyof ActorBounds | keyof Ladder.LadderBounds): string => `TROUPE_${snake(key)}`

const isTime = (key: string) => key.endsWith("Ms")

/**
 * The actor bounds set in the environment (`TROUPE_CANCEL_ACK=2s`, `TROUPE_MAX_FRAME_BYTES=…`);
 * times accept `durationMs` input, limits `count`. Unset keys are left out (their defaults apply).
 */
const boundsOf = <B extends object>(defaults: B): Config.Config<Partial<B>> =>
  Config.all(
    Object.fromEntries((Object.keys(defaults) as Array<keyof B & string>).map((key) => [
      key,
      Config.option(isTime(key) ? durationMs(boundVariable(key as any)) : count(boundVariable(key as any)))
    ]))
  ).pipe(Config.map((entries) => {
    const out: Record<string, number> = {}
    for (const [k, v] of Object.entries(entries)) if (Option.isSome(v)) out[k] = v.value
    return out as Partial<B>
  }))

export const bounds: Config.Config<Partial<ActorBounds>> = boundsOf(defaultActorBounds)

/**
 * The process ladder bounds set in the environment (`TROUPE_TERMINATE_GRACE=5s`,
 * `TROUPE_MAX_BUFFERED_OUTPUT_BYTES=…`), as `bounds`. `Troupe.layerConfig` provides them as the
 * `Bounds.Ladder.Bounds` reference.
 */
export const ladderBounds: Config.Config<Partial<Ladder.LadderBounds>> = boundsOf(Ladder.defaultLadderBounds)

const unitOf = (key: string) => (isTime(key) ? "ms" : key.endsWith("Bytes") ? "bytes" : key === "streamWindow" || key === "streamWindowMax" ? "elements" : "messages")

const boundKeys = <B extends Record<string, number>>(defaults: B): Array<KeyInfo> =>
  Object.keys(defaults).map((key) => ({
    name: boundVariable(key as keyof ActorBounds),
    type: isTime(key) ? "duration" : "integer",
    default: String(defaults[key]),
    unit: unitOf(key)
  }))

/** Every key troupe reads, as docs/configuration.md lists it. */
export const keys: ReadonlyArray<KeyInfo> = [
  { name: "TROUPE_LOG", type: "log level", default: "Warning", unit: "-" },
  { name: "TROUPE_LOG_LEVEL", type: "log level", default: "Warning", unit: "-" },
  { name: "TROUPE_SPAWN_BACKEND", type: "process | worker | forkserver | none", default: "process", unit: "-" },
  { name: "TROUPE_TRANSPORT", type: "uds | tcp", default: "uds", unit: "-" },
  { name: "TROUPE_CHILD_ENTRY", type: "bundle | loader", default: "bundle", unit: "-" },
  { name: "TROUPE_CHILD_SNAPSHOT", type: "boolean", default: "true", unit: "-" },
  { name: "TROUPE_CHILD_HUGEPAGES", type: "boolean", default: "true", unit: "-" },
  { name: "TROUPE_CHILD_PREFAULT", type: "boolean", default: "true", unit: "-" },
  { name: "TROUPE_REGISTRAR", type: "address", default: "-", unit: "-" },
  { name: "TROUPE_SECRET", type: "string (secret)", default: "-", unit: "-" },
  ...boundKeys(defaultActorBounds as unknown as Record<string, number>),
  ...boundKeys(Ladder.defaultLadderBounds as unknown as Record<string, number>)
]
