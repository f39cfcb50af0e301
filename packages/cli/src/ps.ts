/**
 * `troupe ps [--registrar ADDR] [--json] [--watch [--interval DURATION] [--count N]]`: the live
 * actors a registrar knows, as a tree.
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
import { Effect, Either, Option } from "effect"
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
  /** Refresh every `intervalMs` until stopped (or `count` refreshes). */
  readonly watch: boolean
  readonly intervalMs: number
  readonly count: number | undefined
}

const uptime = (ms: number) => {
  const s = Math.max(0, Math.round(ms / 1000))
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
}

/** Render the registry as a tree: roots (no parent, or a parent not registered) first. */
export const renderTree = (actors: ReadonlyArray<Registrar.ActorInfo>, now = Date.now()): string => {
  const ids = new Set(actors.map((a) => a.id))
  const children = new Map<string | null, Array<Registrar.ActorInfo>>()
  for (const a of actors) {
    const key = a.parent !== null && ids.has(a.parent) ? a.parent : null
    children.set(key, [...(children.get(key) ?? []), a])
  }
  const rows: Array<Array<string>> = [["NAME", "ID", "PID", "BACKEND", "UPTIME", "PARENT"]]
  const walk = (parent: string | null, prefix: string) => {
    const list = (children.get(parent) ?? []).sort((x, y) => x.startedAt - y.startedAt || x.name.localeCompare(y.name))
    list.forEach((a, i) => {
      const last = i === list.length - 1
      const branch = parent === null ? "" : prefix + (last ? "└─ " : "├─ ")
      rows.push([branch + a.name, a.id, String(a.pid), a.backend, uptime(now - a.startedAt), a.parent ?? "-"])
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

/** One listing, printed; 0 or 1. */
const listOnce = (o: PsOptions, address: string, clear: boolean): Effect.Effect<number> =>
  Registrar.listAt(o.registrar).pipe(
    Effect.map((actors) => {
      const text = o.json ? JSON.stringify(actors, null, 2) : renderTree(actors)
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
    "A running root prints its registrar address."),
  HelpDoc.p("Exit status: 0 listed; 1 the registrar did not answer (one line on stderr naming the address and " +
    "the reason: no such socket, connection refused, no answer within 5000 ms); 2 bad usage or configuration; " +
    "130 --watch stopped by Ctrl-C."),
  HelpDoc.p("Environment: TROUPE_REGISTRAR (default for --registrar), TROUPE_LOG (log level on stderr). " +
    "See docs/configuration.md.")
])

export const command = Command.make("ps", options, (o) =>
  Effect.gen(function*() {
    const registrar = Option.isSome(o.registrar) ? Option.some(o.registrar.value) : (yield* CliConfig).registrar
    if (Option.isNone(registrar)) {
      process.stderr.write("troupe ps: no registrar: pass --registrar ADDR (a running root prints it) or set TROUPE_REGISTRAR\n")
      return yield* ExitCode.set(2)
    }
    const code = yield* ps({
      registrar: registrar.value,
      json: o.json,
      watch: o.watch,
      intervalMs: o.interval,
      count: Option.getOrUndefined(o.count)
    })
    yield* ExitCode.set(code)
  })).pipe(Command.withDescription(help))
