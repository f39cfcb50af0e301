/**
 * `@troupe/testing`: test helpers for troupe.
 *
 * @since 0.1.0
 */
export * as Bounds from "./Bounds.js"
export * as HangDump from "./HangDump.js"
export * as LeakGuard from "./LeakGuard.js"
export * as ProcessGuard from "./ProcessGuard.js"
export * as TestRoot from "./TestRoot.js"
export * as TroupeTest from "./TroupeTest.js"
