import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
    pool: "forks",
    // Spawning tests are CPU- and process-heavy; two cores here.
    maxWorkers: 2,
    minWorkers: 1
  }
})
