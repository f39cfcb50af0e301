import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
    // After the run: remove the socket directories of roots the suites SIGKILLed (test/globalSetup.ts).
    globalSetup: ["test/globalSetup.ts"],
    pool: "forks",
    // Spawning tests are CPU- and process-heavy; two cores here.
    maxWorkers: 2,
    minWorkers: 1,
    // Under scripts/test.mjs: a worker writes Node's diagnostic report on SIGUSR2 (its watchdog
    // asks for one when the run hangs).
    ...(process.env.TROUPE_TEST_REPORT_DIR
      ? { poolOptions: { forks: { execArgv: ["--report-on-signal", `--report-directory=${process.env.TROUPE_TEST_REPORT_DIR}`] } } }
      : {})
  }
})
