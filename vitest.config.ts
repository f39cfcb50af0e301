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
    minWorkers: 1
  }
})
