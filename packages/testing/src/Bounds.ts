/**
 * Every bound of the test kit, with its default, in one place.
 *
 * @since 0.1.0
 */
export const testBounds = {
  /** How long after a test what it started may take to go before it counts as leaked (ms). Default 5000. */
  leakMs: 5000,
  /** How often the leak check looks again while it waits (ms). Default 25. */
  leakPollMs: 25,
  /** How long each actor has to answer a hang dump's request (ms). Default 2000. */
  dumpAnswerMs: 2000,
  /** When a `TestRoot.it` test counts as hung and is dumped (ms). Default 30000. */
  timeoutMs: 30_000,
  /**
   * What vitest's own timeout adds to a `TestRoot.it` test's, beyond the dump and leak bounds: its
   * teardown (nursery cancel, the termination ladder) after a hang (ms). Default 20000.
   */
  teardownReserveMs: 20_000
} as const
