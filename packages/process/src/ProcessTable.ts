/**
 * The process table as `/proc` (proc(5)) shows it: state, parent, process group, start time.
 * For code outside the supervisor that must judge liveness the same way it does — tests,
 * benchmarks, demos counting "processes left": a zombie (state Z/X) is dead, `kill(pid, 0)` is
 * not a liveness check (it succeeds on a zombie), and a pid is named with its start time
 * against reuse.
 *
 * Reads are synchronous (procfs never blocks on I/O); a `snapshot()` of ~200 processes costs
 * ~7 ms.
 *
 * @since 0.1.0
 */
export {
  commandLine,
  descendants,
  groupMembers,
  isAlive,
  isExitedState,
  type ProcStat,
  readStat,
  snapshot
} from "./internal/procfs.js"
