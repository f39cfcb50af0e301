/**
 * `troupe ps [--registrar ADDR] [--stats] [--json] [--watch [--interval DURATION] [--count N]]`:
 * the live actors a registrar knows, as a tree.
 *
 * `--stats` also asks every listed actor for its counters (`$dump.stats`, see
 * `@troupe/actor/Dump` `ActorStats`), concurrently, `dumpBounds.statsRequestMs` each: RSS,
 * live connections, sessions running (served here / waited on), sessions served since start,
 * messages and bytes in and out. An actor that does not answer in time shows `-` (with `--json`:
 * `"stats": { "error": "…" }`). `TROUPE_SECRET`, when set, authenticates these connections.
 *
 * ADDR is `unix:/path/to.sock`, a bare socket path, or `tcp:HOST:PORT`; without the flag,
 * `TROUPE_REGISTRAR` is used. A running root prints its registrar address (the demo prints
 * `registrar: unix:…`), and its actors register there on boot and are removed when they exit.
 *
 * Exit codes: 0 listed; 1 the registrar did not answer (one line on stderr naming the address
 * and the reason: `no such socket`, `connection refused`, `no answer within 5000 ms`, …);
 * 2 bad usage or configuration; 130 `--watch` stopped by Ctrl-C.
 */
import { Command, HelpDoc, Options } from "@effect/cli"
import { Effect, Either, Option, Redacted } from "effect"
import { dumpBounds } from "@troupe/actor/Bounds"
import * as Dump from "@troupe/actor/Dump"
import { type Address, formatAddress } from "@troupe/actor/Protocol"
import * as Registrar from "@troupe/actor/Registrar"
import { CliConfig } from "./CliConfig.js"
import { accepted, parseMillis, validated } from "./internal/duration.js"
import { ExitCode } from "./internal/exitCode.js"
import { parseAddress } from "@troupe/actor/TroupeConfig"

export { parseAddress }

export interface PsOptions {
  readonly registrar: Address
  readonly json: boolean
  /** Ask each actor for its counters (`ActorStats`) and show them. */
  readonly stats?: boolean
  /** The tree's secret (`TROUPE_SECRET`), for the registrar and the actors. */
  readonly secret?: string | undefined
  /** Refresh every `intervalMs` until stopped (or `count` refreshes). */
  readonly watch: boolean
  readonly intervalMs: number
  readonly count: number | undefined
}

const uptime = (ms: number) => {
  const s = Math.max(0, Math.round(ms / 1000))
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
}

/** An actor's counters, or why it did not give them. */
export type StatsAnswer = Dump.ActorStats | { readonly error: string }

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)}M`
const count = (n: number) => (n < 10_000 ? String(n) : n < 10_000_000 ? `${Math.round(n / 1000)}k` : `${Math.round(n / 1e6)}M`)
const bytesText = (n: number) =>
  n < 10_000 ? `${n}B` : n < 10_000_000 ? `${Math.round(n / 1024)}K` : `${Math.round(n / 1048576)}M`
const statsHeader = ["RSS", "CONNS", "SERVING", "WAITING", "SERVED", "MSGS-IN", "MSGS-OUT", "BYTES-IN", "BYTES-OUT"]
const statsCells = (s: StatsAnswer | undefined): Array<string> =>
  s === undefined || "error" in s
    ? statsHeader.map(() => "-")
    : [mib(s.rss), String(s.connections), String(s.serving), String(s.waiting), count(s.served), count(s.messagesIn),
      count(s.messagesOut), bytesText(s.bytesIn), bytesText(s.bytesOut)]

/**
 * Render the registry as a tree: roots (no parent, or a parent not registered) first. With
 * `stats` (by actor id), the counters' columns follow (`-` for an actor that did not answer).
 */
export const renderTree = (
  actors: ReadonlyArray<Registrar.ActorInfo>,
  now = Date.now(),
  stats?: ReadonlyMap<string, StatsAnswer>
): string => {
  const ids = new Set(actors.map((a) => a.id))
  const children = new Map<string | null, Array<Registrar.ActorInfo>>()
  for (const a of actors) {
    const key = a.parent !== null && ids.has(a.parent) ? a.parent : null
    children.set(key, [...(children.get(key) ?? []), a])
  }
  const rows: Array<Array<string>> = [["NAME", "ID", "PID", "BACKEND", "UPTIME", "PARENT", ...(stats ? statsHeader : [])]]
  const walk = (parent: string | null, prefix: string) => {
    const list = (children.get(parent) ?? []).sort((x, y) => x.startedAt - y.startedAt || x.name.localeCompare(y.name))
    list.forEach((a, i) => {
      const last = i === list.length - 1
      const branch = parent === null ? "" : prefix + (last ? "└─ " : "├─ ")
      rows.push([
        branch + a.name,
        a.id,
        String(a.pid),
        a.backend,
        uptime(now - a.startedAt),
        a.parent ?? "-",
        ...(stats ? statsCells(stats.get(a.id)) : [])
      ])
      walk(a.id, parent === null ? "" : prefix + (last ? "   " : "│  "))
    })
  }
  walk(null, "")
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd()).join("\n")
}

const failureLine = (e: { readonly _tag: string; readonly message: string }, address: string) =>
  e._tag === "TransportError"
    ? `troupe ps: cannot reach registrar ${e.message}` // "<address>: <reason>"
    : `troupe ps: registrar ${address}: ${e.message.split("\n")[0]}`

/** Every actor's counters, asked concurrently, each bounded by `dumpBounds.statsRequestMs`. */
const statsOf = (actors: ReadonlyArray<Registrar.ActorInfo>, secret: string | undefined) =>
  Effect.forEach(
    actors,
    (a) =>
      Dump.requestStats(a.address, { timeoutMs: dumpBounds.statsRequestMs, secret }).pipe(
        Effect.map((s): readonly [string, StatsAnswer] => [a.id, s]),
        Effect.catchAll((e) => Effect.succeed([a.id, { error: e.reason }] as const))
      ),
    { concurrency: 16 }
  ).pipe(Effect.map((entries) => new Map<string, StatsAnswer>(entries)))

/** One listing, printed; 0 or 1. */
const listOnce = (o: PsOptions, address: string, clear: boolean): Effect.Effect<number> =>
  Registrar.listAt(o.registrar, undefined, o.secret).pipe(
    Effect.flatMap((actors) =>
      Effect.map(
        o.stats === true ? statsOf(actors, o.secret) : Effect.succeed(undefined),
        (stats): { actors: ReadonlyArray<Registrar.ActorInfo>; stats: ReadonlyMap<string, StatsAnswer> | undefined } => ({ actors, stats })
      )
    ),
    Effect.map(({ actors, stats }) => {
      const text = o.json
        ? JSON.stringify(stats ? actors.map((a) => ({ ...a, stats: stats.get(a.id) })) : actors, null, 2)
        : renderTree(actors, Date.now(), stats)
      process.stdout.write((clear ? "\x1b[H\x1b[2J" : "") + text + "\n")
      return 0
    }),
    Effect.catchAll((e) =>
      Effect.sync(() => {
        process.stderr.write(failureLine(e, address) + "\n")
        return 1
      })
    )
  )

/**
 * List once, or with `watch` every `intervalMs` (the screen cleared first on a terminal) until
 * `count` refreshes or SIGINT (exit 130). A failed refresh prints its line and watching goes on;
 * the exit code is the last refresh's.
 */
export const ps = (o: PsOptions): Effect.Effect<number> => {
  const address = formatAddress(o.registrar)
  if (!o.watch) return listOnce(o, address, false)
  const clear = process.stdout.isTTY === true && !o.json
  const loop = Effect.gen(function*() {
    let code = 0
    for (let i = 0; o.count === undefined || i < o.count; i++) {
      if (i > 0) yield* Effect.sleep(o.intervalMs)
      code = yield* listOnce(o, address, clear)
    }
    return code
  })
  const interrupted = Effect.async<number>((resume) => {
    const onInt = () => resume(Effect.succeed(130))
    process.once("SIGINT", onInt)
    return Effect.sync(() => process.off("SIGINT", onInt))
  })
  return Effect.raceFirst(loop, interrupted)
}

const options = {
  registrar: Options.text("registrar").pipe(
    Options.withPseudoName("ADDR"),
    Options.withDescription("The registrar: unix:PATH, a socket path, or tcp:HOST:PORT (default: TROUPE_REGISTRAR)."),
    Options.mapEffect((text) => {
      const a = parseAddress(text)
      return validated(
        "--registrar",
        a === undefined ? Either.left(`bad address '${text}' (unix:PATH, a socket path, or tcp:HOST:PORT)`) : Either.right(a)
      )
    }),
    Options.optional
  ),
  json: Options.boolean("json").pipe(Options.withDescription("Print the registry as JSON (an array of ActorInfo).")),
  stats: Options.boolean("stats").pipe(
    Options.withDescription(
      "Ask every actor for its counters and show them: RSS, live connections, sessions serving/waiting, sessions " +
        "served, messages and bytes in/out (with --json: a stats field per actor)."
    )
  ),
  watch: Options.boolean("watch").pipe(Options.withAlias("w"), Options.withDescription("Refresh until Ctrl-C.")),
  interval: Options.text("interval").pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription(`Time between --watch refreshes (default 1s). DURATION is ${accepted}.`),
    Options.mapEffect((text) => validated("--interval", parseMillis(text))),
    Options.withDefault(1000)
  ),
  count: Options.integer("count").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("With --watch: stop after N refreshes."),
    Options.optional
  )
}

export const help = HelpDoc.blocks([
  HelpDoc.p("Lists the live actors a registrar knows, as a tree (NAME, ID, PID, BACKEND, UPTIME, PARENT). " +
    "A running root prints its registrar address. With --stats, each actor's counters follow (asked of the actor " +
    "itself, 2000 ms each; - when it does not answer)."),
  HelpDoc.p("Exit status: 0 listed; 1 the registrar did not answer (one line on stderr naming the address and " +
    "the reason: no such socket, connection refused, no answer within 5000 ms); 2 bad usage or configuration; " +
    "130 --watch stopped by Ctrl-C."),
  HelpDoc.p("Environment: TROUPE_REGISTRAR (default for --registrar), TROUPE_SECRET (the tree's secret, when it " +
    "has one), TROUPE_LOG (log level on stderr). " +
    "See docs/configuration.md.")
])

export const command = Command.make("ps", options, (o) =>
  Effect.gen(function*() {
    const registrar = Option.isSome(o.registrar) ? Option.some(o.registrar.value) : (yield* CliConfig).registrar
    if (Option.isNone(registrar)) {
      process.stderr.write("troupe ps: no registrar: pass --registrar ADDR (a running root prints it) or set TROUPE_REGISTRAR\n")
      return yield* ExitCode.set(2)
    }
    const secret = (yield* CliConfig).secret
    const code = yield* ps({
      registrar: registrar.value,
      json: o.json,
      stats: o.stats,
      secret: Option.isSome(secret) ? Redacted.value(secret.value) : undefined,
      watch: o.watch,
      intervalMs: o.interval,
      count: Option.getOrUndefined(o.count)
    })
    yield* ExitCode.set(code)
  })).pipe(Command.withDescription(help))
