// The namespace test bed of the netns failover suite: a bridge with a private /24 that exists only
// for the suite, N network namespaces each joined to it by a veth pair, and a private PostgreSQL
// cluster (scripts/pg.sh) listening on the host end of the bridge. Everything it makes is named
// `trnt<pid>…` (this process's pid): the release removes it all, and a later run removes what a
// dead run left behind (names whose pid is no longer alive) before making its own.
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { alive, repoRoot } from "./_cluster.js"

export const prefix = "trnt"
const clusterPrefix = "troupe-netns-"

const run = (command: string, args: ReadonlyArray<string>, env: Record<string, string> = {}, timeoutMs = 60_000): string =>
  execFileSync(command, args, { encoding: "utf8", timeout: timeoutMs, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })

const tryRun = (command: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): string | undefined => {
  try {
    return run(command, args, env)
  } catch {
    return undefined
  }
}

/** Why the suite cannot run here, or `undefined` when it can. */
export const unavailable = (): string | undefined => {
  if (process.platform !== "linux") return "network namespaces need Linux"
  if (process.getuid?.() !== 0) return "network namespaces and pg_createcluster need root"
  if (process.env.TROUPE_PG_URL === undefined) {
    return "TROUPE_PG_URL is unset (the suite runs where the PostgreSQL suites run: .ci/run, or export TROUPE_PG_URL=$(scripts/pg.sh))"
  }
  if (tryRun("ip", ["netns", "list"]) === undefined) return "`ip netns` is unavailable"
  if (tryRun("pg_lsclusters", ["-h"]) === undefined || !existsSync("/usr/lib/postgresql/15/bin/postgres")) {
    return "PostgreSQL 15 tools (pg_createcluster, pg_ctlcluster) are missing: run scripts/pg.sh once"
  }
  return undefined
}

const pidOf = (name: string, pre: string): number | undefined => {
  const m = new RegExp(`^${pre}(\\d+)`).exec(name)
  return m ? Number(m[1]) : undefined
}

const pgsh = join(repoRoot, "scripts", "pg.sh")

/** Remove namespaces, links and PostgreSQL clusters of runs whose process is gone. */
export const preClean = (): void => {
  for (const line of (tryRun("ip", ["netns", "list"]) ?? "").split("\n")) {
    const name = line.split(" ")[0] ?? ""
    const pid = pidOf(name, prefix)
    if (pid !== undefined && !alive(pid)) tryRun("ip", ["netns", "del", name])
  }
  for (const line of (tryRun("ip", ["-o", "link", "show"]) ?? "").split("\n")) {
    const name = (line.split(":")[1] ?? "").trim().split("@")[0] ?? ""
    const pid = pidOf(name, prefix)
    if (pid !== undefined && !alive(pid)) tryRun("ip", ["link", "del", name])
  }
  for (const line of (tryRun("pg_lsclusters", ["-h"]) ?? "").split("\n")) {
    const name = line.split(/\s+/)[1] ?? ""
    const pid = pidOf(name, clusterPrefix)
    if (pid !== undefined && !alive(pid)) tryRun(pgsh, ["stop"], { TROUPE_PG_CLUSTER: name })
  }
}

export interface Bed {
  /** The namespaces, in order. */
  readonly namespaces: ReadonlyArray<string>
  /** The address of each namespace on the bridge. */
  readonly addresses: ReadonlyArray<string>
  /** The host end of the bridge (PostgreSQL listens here). */
  readonly hostAddress: string
  /** PostgreSQL URL on the bridge address (a fresh database `troupe`). */
  readonly url: string
  /** Cut namespace `i` off (its veth's host end down) / join it again. */
  readonly partition: (i: number) => void
  readonly heal: (i: number) => void
  /** Restart PostgreSQL (fast shutdown: every session cut). */
  readonly restartPostgres: () => void
}

/** Make the bed (scoped): bridge, `n` namespaces, PostgreSQL. Released: all of it removed. */
export const bed = (n: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      preClean()
      const tag = `${prefix}${process.pid}`
      const cluster = `${clusterPrefix}${process.pid}`
      const subnet = `10.251.${process.pid % 250}`
      const made = { namespaces: [] as Array<string>, bridge: undefined as string | undefined, cluster: undefined as string | undefined }
      const release = () => {
        for (const ns of made.namespaces) tryRun("ip", ["netns", "del", ns])
        for (let i = 0; i < n; i++) tryRun("ip", ["link", "del", `${tag}h${i}`])
        if (made.bridge !== undefined) tryRun("ip", ["link", "del", made.bridge])
        if (made.cluster !== undefined) tryRun(pgsh, ["stop"], { TROUPE_PG_CLUSTER: made.cluster })
      }
      try {
        const bridge = `${tag}b`
        made.bridge = bridge
        run("ip", ["link", "add", bridge, "type", "bridge"])
        run("ip", ["addr", "add", `${subnet}.1/24`, "dev", bridge])
        run("ip", ["link", "set", bridge, "up"])
        const namespaces: Array<string> = []
        const addresses: Array<string> = []
        for (let i = 0; i < n; i++) {
          const ns = `${tag}-r${i}`
          run("ip", ["netns", "add", ns])
          made.namespaces.push(ns)
          const host = `${tag}h${i}`
          const inner = `${tag}n${i}`
          run("ip", ["link", "add", host, "type", "veth", "peer", "name", inner])
          run("ip", ["link", "set", inner, "netns", ns])
          run("ip", ["link", "set", host, "master", bridge, "up"])
          const address = `${subnet}.${10 + i}`
          run("ip", ["-n", ns, "addr", "add", `${address}/24`, "dev", inner])
          run("ip", ["-n", ns, "link", "set", inner, "up"])
          run("ip", ["-n", ns, "link", "set", "lo", "up"])
          namespaces.push(ns)
          addresses.push(address)
        }
        made.cluster = cluster
        const env = { TROUPE_PG_CLUSTER: cluster, TROUPE_PG_LISTEN: `${subnet}.1` }
        const url = run(pgsh, ["start"], env, 120_000).trim()
        const result: Bed = {
          namespaces,
          addresses,
          hostAddress: `${subnet}.1`,
          url,
          partition: (i) => void run("ip", ["link", "set", `${tag}h${i}`, "down"]),
          heal: (i) => void run("ip", ["link", "set", `${tag}h${i}`, "up"]),
          restartPostgres: () => void run(pgsh, ["restart"], env, 60_000)
        }
        return { result, release }
      } catch (e) {
        release()
        throw e
      }
    }),
    ({ release }) => Effect.sync(release)
  ).pipe(Effect.map(({ result }) => result))

/** What the suite made that is still there (for the check that the release removed it all). */
export const leftovers = (pid: number = process.pid): Array<string> => {
  const tag = `${prefix}${pid}`
  const out: Array<string> = []
  for (const line of (tryRun("ip", ["netns", "list"]) ?? "").split("\n")) if (line.startsWith(tag)) out.push(`netns ${line}`)
  for (const line of (tryRun("ip", ["-o", "link", "show"]) ?? "").split("\n")) {
    const name = (line.split(":")[1] ?? "").trim().split("@")[0] ?? ""
    if (name.startsWith(tag)) out.push(`link ${name}`)
  }
  for (const line of (tryRun("pg_lsclusters", ["-h"]) ?? "").split("\n")) {
    if ((line.split(/\s+/)[1] ?? "") === `${clusterPrefix}${pid}`) out.push(`cluster ${line}`)
  }
  return out
}
