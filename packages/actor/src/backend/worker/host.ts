/**
 * A child actor that is a worker thread: its arguments come in `workerData`, it reaches its
 * parent thread over the `MessagePort` handed to it (no socket, no msgpack), and nothing
 * process-wide runs here — no signal handlers, no prctl (from a thread it would set the
 * attribute for the whole process), no process title. Its `pid` is its thread id; the processes
 * it starts are reported to the parent thread (which cleans up after a terminated worker).
 *
 * @internal
 */
import { parentPort } from "node:worker_threads"
import { defaultActorBounds } from "../../Bounds.js"
import { bundleBoot, type Host } from "../../internal/child.js"
import * as ChildArgs from "../../internal/childArgs.js"
import * as PortTransport from "../../transport/PortTransport.js"
import * as SocketTransport from "../../transport/SocketTransport.js"
import { backend as processBackend } from "../process/ProcessBackend.js"
import { currentThreadId, markingActors, type WorkerBoot } from "./boot.js"
import * as WorkerBackend from "./WorkerBackend.js"

export const workerHost = (boot: WorkerBoot): Host => {
  const args = ChildArgs.decode(boot.args)
  const entry = boot.entry._tag === "bundle" ? "bundle" : "loader"
  const connLimits = args.limits
  const loaded = bundleBoot()
  const processChildren = markingActors(processBackend, parentPort!)
  const workerChildren = WorkerBackend.make({ entry, children: "worker" })
  return {
    args,
    bundle: boot.entry._tag === "bundle" ? boot.entry.path : undefined,
    ...(loaded !== undefined ? { booted: loaded.booted } : {}),
    pid: currentThreadId() ?? process.pid,
    backend: boot.children === "process" ? processChildren : workerChildren,
    // Either named backend, whichever is the default: processes started here are always reported.
    backends: { process: processChildren, worker: workerChildren },
    spawnedBy: "worker",
    spec: ChildArgs.decodeSpec(boot.spec),
    parent: boot.port !== undefined
      ? PortTransport.fromPort(boot.port, "parent port", connLimits)
      : SocketTransport.connect(args.parent, connLimits, defaultActorBounds.handshakeMs)
  }
}
