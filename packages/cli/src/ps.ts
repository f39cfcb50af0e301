/**
 * `troupe ps [--registrar ADDR] [--json]`: the live actors a registrar knows, as a tree.
 *
 * ADDR is `unix:/path/to.sock`, a bare socket path, or `tcp:HOST:PORT`; without the flag,
 * `TROUPE_REGISTRAR` is used. A running root prints its registrar address (the demo prints
 * `registrar: unix:…`), and its actors register there on boot and are removed when they exit.
 */
import { Effect } from "effect"
import type { Address } from "@troupe/actor/Protocol"
import * as Registrar from "@troupe/actor/Registrar"

export const usage = "usage: troupe ps [--registrar unix:PATH | tcp:HOST:PORT] [--json]"

export interface PsOptions {
  readonly registrar: Address
  readonly json: boolean
}

export const parseAddress = (text: string): Address | undefined => {
  if (text.startsWith("tcp:")) {
    const m = /^tcp:(.+):(\d+)$/.exec(text)
    return m === null ? undefined : { _tag: "TcpAddress", hostname: m[1]!, port: Number(m[2]) }
  }
  const path = text.startsWith("unix:") ? text.slice(5) : text
  return path.length > 0 ? { _tag: "UnixAddress", path } : undefined
}

export const parsePs = (argv: ReadonlyArray<string>): PsOptions | string => {
  let registrar = process.env["TROUPE_REGISTRAR"]
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === "--json") json = true
    else if (a === "--registrar") registrar = argv[++i]
    else return `unknown argument ${a}`
  }
  if (registrar === undefined) return "no registrar: pass --registrar ADDR (a running root prints it) or set TROUPE_REGISTRAR"
  const address = parseAddress(registrar)
  return address === undefined ? `bad registrar address ${registrar}` : { registrar: address, json }
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

export const ps = (o: PsOptions): Effect.Effect<number> =>
  Registrar.listAt(o.registrar).pipe(
    Effect.map((actors) => {
      process.stdout.write(o.json ? JSON.stringify(actors, null, 2) + "\n" : renderTree(actors) + "\n")
      return 0
    }),
    Effect.catchAll((e) =>
      Effect.sync(() => {
        process.stderr.write(`troupe ps: ${e.message.split("\n")[0]}\n`)
        return 1
      })
    )
  )
