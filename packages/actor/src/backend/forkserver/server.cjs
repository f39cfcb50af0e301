// The forkserver (started by client.ts, one per runtime): the OS parent of the actors it starts,
// which are warm before they are asked for.
//
//   node server.cjs <json config>      stdin: requests, stdout: events (one JSON object a line)
//
// Requests: `{ t: "spawn", rid, flags, cmd, env, cwd?, args, spawn?, cold? }` — start (or hand out a
// warm) child running `node <flags> warm-entry.cjs <cmd…>` and give it its spec `{ env, cwd, args,
// spawn }`; `cold`: start one in the actor's environment and working directory, never hand out a
// warm child (which loaded the actor's module in this process's, not the actor's own);
// `{ t: "warm", flags, cmd }` — keep that entry warm from now on (an actor of it was started
// without this server, before it was up).
// Events: `{ t: "spawned", rid, pid }`, `{ t: "failed", rid, reason }`, `{ t: "out", rid, s:
// "stdout" | "stderr", d: base64 }`, `{ t: "eof", rid, s }`, `{ t: "exit", rid, code, signal }`.
//
// Children without Node flags of their own are kept warm: `warmPerEntry` per child entry, for
// the `warmEntries` entries used last. Every child leads its own process group (setsid) and
// holds only stdio and fd 3 (its spec channel, closed once the spec is read): libuv opens every
// descriptor of this process close-on-exec. A warm child's output before it is handed out is
// kept and delivered with the actor's.
//
// The requester's death (stdin at EOF) or SIGTERM/SIGINT ends every child: SIGTERM to each
// group, SIGKILL after `terminateGraceMs`, exit once all are gone (at most `killGraceMs` more).
// This process's own death ends warm children (their fd 3 at EOF) and actors (their
// parent-death signal, armed by the runtime once it starts).
"use strict"
const { spawn } = require("node:child_process")
const { join } = require("node:path")

const config = JSON.parse(process.argv[2] ?? "{}")
const warmEntry = join(__dirname, "warm-entry.cjs")
const send = (event) => process.stdout.write(`${JSON.stringify(event)}\n`)

/** @type {Map<string, Array<any>>} warm children by entry key, least recently used entry first */
const warm = new Map()
/** @type {Set<any>} every child not exited */
const children = new Set()
let stopping = false

/**
 * The environment children start with. This process started without NODE_EXTRA_CA_CERTS (Node
 * reads that file at every start, ~35 ms, and the server makes no TLS connection); its children,
 * which may, get it back: Node reads it before any of the spec's environment applies.
 */
const childEnv = { ...process.env, TROUPE_ACTOR: "(warm)" }
delete childEnv.TROUPE_FORKSERVER_EXTRA_CA_CERTS
if (process.env.TROUPE_FORKSERVER_EXTRA_CA_CERTS !== undefined) childEnv.NODE_EXTRA_CA_CERTS = process.env.TROUPE_FORKSERVER_EXTRA_CA_CERTS
// The GLIBC_TUNABLES children start with (malloc's huge pages: client.ts, backend/process/malloc.ts);
// a child's spec then replaces its environment whole.
delete childEnv.TROUPE_FORKSERVER_GLIBC_TUNABLES
if (process.env.TROUPE_FORKSERVER_GLIBC_TUNABLES !== undefined) childEnv.GLIBC_TUNABLES = process.env.TROUPE_FORKSERVER_GLIBC_TUNABLES
// The LD_PRELOAD children start with (the prefault object: client.ts, backend/process/prefault.ts).
delete childEnv.TROUPE_FORKSERVER_LD_PRELOAD
if (process.env.TROUPE_FORKSERVER_LD_PRELOAD !== undefined) childEnv.LD_PRELOAD = process.env.TROUPE_FORKSERVER_LD_PRELOAD
/** What a child started for one request (`cold`) is exec'd with on top of the actor's environment. */
const execOnly = {
  ...(process.env.TROUPE_FORKSERVER_GLIBC_TUNABLES !== undefined ? { GLIBC_TUNABLES: childEnv.GLIBC_TUNABLES } : {}),
  ...(process.env.TROUPE_FORKSERVER_LD_PRELOAD !== undefined ? { LD_PRELOAD: childEnv.LD_PRELOAD } : {})
}

/**
 * A child of the entry `flags` + `cmd`. `own`: the actor's environment and working directory, for
 * a child started for one request (`cold`): its module loads under them, not under this process's.
 */
const start = (flags, cmd, own) => {
  const child = spawn(process.execPath, [...flags, warmEntry, ...cmd], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    // Set while the module loads (code that tells a child from a root by it sees a child); the
    // spec replaces the whole environment with the actor's.
    env: own === undefined ? childEnv : { ...own.env, ...execOnly },
    ...(own !== undefined && typeof own.cwd === "string" ? { cwd: own.cwd } : {})
  })
  const rec = { child, rid: undefined, pending: [], key: undefined }
  children.add(rec)
  const emit = (event) => {
    if (rec.rid === undefined) rec.pending.push(event)
    else send({ ...event, rid: rec.rid })
  }
  for (const s of ["stdout", "stderr"]) {
    child[s].on("data", (d) => emit({ t: "out", s, d: d.toString("base64") }))
    child[s].on("end", () => emit({ t: "eof", s }))
  }
  child.stdio[3].on("error", () => {})
  child.on("error", (e) => {
    if (rec.rid !== undefined && child.pid === undefined) send({ t: "failed", rid: rec.rid, reason: e.message })
  })
  child.on("exit", (code, signal) => {
    if (rec.key !== undefined) {
      const pool = warm.get(rec.key)
      const i = pool === undefined ? -1 : pool.indexOf(rec)
      if (i >= 0) pool.splice(i, 1)
    }
    emit({ t: "exit", code, signal })
  })
  child.on("close", () => {
    children.delete(rec)
    if (stopping && children.size === 0) process.exit(0)
  })
  return rec
}

const killGroup = (rec, sig) => {
  try {
    process.kill(-rec.child.pid, sig)
  } catch {
    // already gone
  }
}

const refill = (key, flags, cmd) => {
  if (stopping) return
  let pool = warm.get(key)
  if (pool === undefined) pool = []
  warm.delete(key)
  warm.set(key, pool) // most recently used last
  while (pool.length < config.warmPerEntry) {
    const rec = start(flags, cmd)
    rec.key = key
    pool.push(rec)
  }
  while (warm.size > config.warmEntries) {
    const [oldest, idle] = warm.entries().next().value
    warm.delete(oldest)
    for (const rec of idle) killGroup(rec, "SIGKILL")
  }
}

const handOut = (req) => {
  const key = JSON.stringify([req.flags, req.cmd])
  const pool = req.cold === true ? [] : warm.get(key) ?? []
  let rec
  while (rec === undefined && pool.length > 0) {
    const r = pool.shift()
    if (r.child.exitCode === null && r.child.signalCode === null) rec = r
  }
  const cold = rec === undefined
  if (rec === undefined) rec = start(req.flags, req.cmd, req.cold === true ? { env: req.env, cwd: req.cwd } : undefined)
  rec.key = undefined
  rec.rid = req.rid
  if (rec.child.pid === undefined) return // 'error' reports it
  rec.child.stdio[3].end(`${JSON.stringify({ env: req.env, cwd: req.cwd, args: req.args, spawn: req.spawn })}\n`)
  send({ t: "spawned", rid: req.rid, pid: rec.child.pid })
  for (const e of rec.pending.splice(0)) send({ ...e, rid: req.rid })
  // Refilled a little later: the child just handed out boots first (one started cold boots
  // from scratch, so it gets `coldRefillDelayMs` to itself).
  // A `cold` request took no warm child: nothing to refill.
  if (req.flags.length === 0 && req.cold !== true) {
    setTimeout(() => refill(key, req.flags, req.cmd), cold ? config.coldRefillDelayMs : config.warmRefillDelayMs).unref()
  }
}

const stop = () => {
  if (stopping) return
  stopping = true
  if (children.size === 0) process.exit(0)
  for (const rec of children) killGroup(rec, rec.rid === undefined ? "SIGKILL" : "SIGTERM")
  setTimeout(() => {
    for (const rec of children) killGroup(rec, "SIGKILL")
    setTimeout(() => process.exit(0), config.killGraceMs).unref()
  }, config.terminateGraceMs).unref()
}

process.on("SIGTERM", stop)
process.on("SIGINT", stop)
let buf = ""
process.stdin.setEncoding("utf8")
process.stdin.on("data", (chunk) => {
  buf += chunk
  let nl
  while ((nl = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, nl)
    buf = buf.slice(nl + 1)
    let req
    try {
      req = JSON.parse(line)
    } catch {
      continue
    }
    if (req.t === "warm" && !stopping && Array.isArray(req.flags) && req.flags.length === 0 && Array.isArray(req.cmd)) {
      refill(JSON.stringify([req.flags, req.cmd]), req.flags, req.cmd)
    }
    if (req.t === "spawn" && !stopping) {
      try {
        handOut(req)
      } catch (e) {
        send({ t: "failed", rid: req.rid, reason: String(e) })
      }
    }
  }
})
process.stdin.on("end", stop)
process.stdin.on("error", stop)
process.stdout.on("error", stop)
send({ t: "up", pid: process.pid })
