/**
 * `@troupe/cluster`: troupe roots as `@effect/cluster` entities.
 *
 * @since 0.1.0
 */
export * as Bounds from "./Bounds.js"
export * as Fence from "./Fence.js"
export * as LocalRunner from "./LocalRunner.js"
export * as Settings from "./Settings.js"
export * as SqlRunner from "./SqlRunner.js"
export * as TroupeEntity from "./TroupeEntity.js"
