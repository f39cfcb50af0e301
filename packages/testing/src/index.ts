/**
 * `@troupe/testing`: test helpers for troupe.
 *
 * @since 0.1.0
 */
export * as ProcessGuard from "./ProcessGuard.js"
export * as TroupeTest from "./TroupeTest.js"
