/**
 * `@troupe/process`: bounded, tree- and orphan-aware process supervision for Effect.
 *
 * @since 0.1.0
 */
export * as Bounds from "./Bounds.js"
export * as ChildRegistry from "./ChildRegistry.js"
export * as CommandExecutor from "./CommandExecutor.js"
export * as ExitStatus from "./ExitStatus.js"
export * as Ladder from "./Ladder.js"
export * as Liveness from "./Liveness.js"
export * as Native from "./Native.js"
export * as Process from "./Process.js"
export * as ProcessError from "./ProcessError.js"
export * as ProcessTable from "./ProcessTable.js"
export * as Subreaper from "./Subreaper.js"
