/**
 * A child actor that is its own Node process: its arguments come on the command line, it reaches
 * its parent over a socket to the parent's listener, and it owns what is process-wide — the
 * parent-death signal (`PR_SET_PDEATHSIG` → SIGTERM, via the addon) and the native watchdog
 * behind it (SIGKILL if the process is still alive `parentDeathExitMs` + `parentWatchdogSlackMs`
 * after its parent died: a wedged JS thread runs no handler), the process title, and
 * SIGINT/SIGTERM (the first ends the actor gracefully, a second exits at once).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as LadderBounds from "@troupe/process/Bounds"
import { native } from "@troupe/process/Native"
import * as ProcessTable from "@troupe/process/ProcessTable"
import * as Subreaper from "@troupe/process/Subreaper"
import { defaultActorBounds } from "../../Bounds.js"
import { TransportError } from "../../Errors.js"
import * as Auth from "../../internal/auth.js"
import { bundleBoot, type Host } from "../../internal/child.js"
import * as ChildArgs from "../../internal/childArgs.js"
import { processChildPids } from "../../internal/runtime.js"
import { formatAddress } from "../../Protocol.js"
import * as SocketTransport from "../../transport/SocketTransport.js"
import { restore as restoreTunables } from "./malloc.js"
import { restore as restorePreload } from "./prefault.js"
import { backend as processBackend } from "./ProcessBackend.js"

/**
 * Last resort before this process exits: SIGKILL every live descendant, found in one /proc
 * snapshot before any is signalled (so a grandchild is still ours when we look). Normally there
 * is none — the nurseries reaped them — but a teardown that overran its bound, or a child stopped
 * or wedged below us, would otherwise outlive the tree: its own children get only the
 * parent-death SIGTERM, which a stopped or SIGTERM-ignoring process never acts on.
 */
const killDescendants = (always: boolean, parentPid: number) => {
  // Our parent is gone: nobody is left to run the orphan pipe-writer step of our ladder, so a
  // process that escaped our tree (setsid, re-parented to init) still holding our stdout or
  // stderr is ours to end, or it would outlive the tree and keep our output open.
  if (process.ppid !== parentPid) killOutputHolders()
  // Normally no child is left by now; an orphan this subreaper adopted, or a child a teardown
  // did not end, is what the scan is for.
  if (!always && processChildPids.size === 0 && ProcessTable.childrenOf(process.pid).length === 0) return
  try {
    for (const d of ProcessTable.descendants(process.pid)) {
      try {
        process.kill(d.pid, "SIGKILL")
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // /proc unreadable: nothing more to do here
  }
}

/** SIGKILL every other process holding our stdout/stderr for writing (one scan of /proc). */
const killOutputHolders = () => {
  try {
    const inodes = new Set([1, 2].flatMap((fd) => {
      const ino = ProcessTable.fdInode(process.pid, fd)
      return ino === undefined ? [] : [ino]
    }))
    for (const p of ProcessTable.writersOf(inodes, new Set([process.pid]))) {
      try {
        process.kill(p.pid, "SIGKILL")
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // /proc unreadable: nothing more to do here
  }
}

export const processHost = (): Host => {
  const i = process.argv.indexOf("--troupe-child")
  const args = ChildArgs.decode(i >= 0 ? process.argv[i + 1] : undefined)
  // The one-time boot key (a secret is configured): taken out of the environment at once, so
  // nothing this actor starts inherits it.
  const bootKey = process.env["TROUPE_BOOT_KEY"]
  delete process.env["TROUPE_BOOT_KEY"]
  const atLaunch = ChildArgs.takeSpawnSpec()
  // GLIBC_TUNABLES and LD_PRELOAD as the actor was given them (the spawn added malloc's huge pages,
  // malloc.ts, and the prefault object, prefault.ts).
  restoreTunables()
  restorePreload()
  const loaded = bundleBoot()
  return {
    args,
    // A `.cjs` bundle runs through load-bundle.cjs; a `.mjs` one (top-level await) is the main module.
    bundle: loaded?.bundle ?? (process.argv[1]?.endsWith(".mjs") ? process.argv[1] : undefined),
    ...(loaded !== undefined ? { booted: loaded.booted } : {}),
    pid: process.pid,
    backend: processBackend,
    // The forkserver's warm children run this host too (backend/forkserver/warm-entry.cjs marks them).
    spawnedBy: process.argv.includes("--troupe-forkserver-child") ? "forkserver" : "process",
    // The spawn spec at launch: a forkserver child's, handed over on the server's spec channel
    // (warm-entry.cjs), or a process child's, in its environment; a malformed one fails the boot
    // (the parent does not send it again).
    spec: ChildArgs.decodeSpec((globalThis as Record<symbol, unknown>)[Symbol.for("troupe.forkserver.spawnSpec")] ?? atLaunch),
    parent: SocketTransport.connect(args.parent, args.limits, defaultActorBounds.handshakeMs).pipe(
      Effect.tap((conn) => (bootKey === undefined ? Effect.void : Auth.connectWith(conn, { id: args.id, secret: bootKey }, defaultActorBounds.handshakeMs))),
      Effect.mapError((e) => (e._tag === "TransportError" ? e : new TransportError({ address: formatAddress(args.parent), reason: e.message })))
    ),
    beforeExit: (always) => killDescendants(always, args.parentPid),
    armParentWatchdog: (graceMs) => {
      try {
        native?.armParentWatchdog(args.parentPid, graceMs)
      } catch (e) {
        process.stderr.write(`troupe child: no parent-death watchdog (${String(e)})\n`)
      }
    },
    subreaper: (ladder) =>
      Subreaper.enable.pipe(
        Effect.provideService(LadderBounds.Bounds, ladder),
        Effect.catchAll((e) => Effect.logDebug(`not a subreaper: ${e.message}`))
      ),
    setup: (stop) => {
      // Our stdout/stderr are pipes our parent reads (its output relay). Once it is gone, a write
      // (a log line of our own teardown) fails with EPIPE, and an unhandled stream 'error' would
      // end this process at once — before it tore down its subtree and the processes its handlers
      // hold. Nobody is left to read them: the write is dropped.
      for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {})
      // Parent death: the kernel sends SIGTERM when the parent dies (addon), and the parent
      // channel reaches EOF (always). If the parent died before prctl, exit now.
      try {
        native?.setPdeathsig(15)
        if (native !== undefined && native.getppid() !== args.parentPid) {
          killDescendants(true, args.parentPid)
          process.exit(70)
        }
      } catch {
        // no addon: the channel EOF path handles it
      }
      process.title = `troupe[${args.name}@${args.id.split("@")[1]?.slice(0, 8) ?? ""}]` // tractor's _subactor[name@uuid]
      let signals = 0
      const onSignal = (sig: NodeJS.Signals) => {
        signals++
        if (signals > 1) {
          killDescendants(true, args.parentPid)
          process.exit(sig === "SIGINT" ? 130 : 143)
        }
        stop(`received ${sig}`)
      }
      process.on("SIGINT", onSignal)
      process.on("SIGTERM", onSignal)
    }
  }
}
