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
  /** The children of a pid, from `/proc/<pid>/task/<tid>/children` (no scan of all of /proc). */
  childrenOf,
  commandLine,
  descendants,
  /** The pipe/socket inode behind `/proc/<pid>/fd/<fd>`, if it is one. */
  fdInode,
  groupMembers,
  isAlive,
  isExitedState,
  type ProcStat,
  readStat,
  snapshot,
  /** Processes (other than `exclude`) holding one of these pipe/socket inodes open for writing. */
  writersOf
} from "./internal/procfs.js"
