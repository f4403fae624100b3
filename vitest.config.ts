import { defineConfig } from 'vitest/config'

const shared = {
  disableConsoleIntercept: true,
  setupFiles: ['test/setup.ts'],
  pool: 'forks' as const,
  testTimeout: 60_000,
  hookTimeout: 60_000,
}

// The layers, one command (`npm test`): unit (pure), integration (real SQLite files, in-process servers),
// contract (one control-plane suite, local and over HTTP), e2e (the built binary spawned with temporary XDG dirs).
export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'unit', include: ['test/unit/**/*.test.{ts,tsx}'] } },
      { test: { ...shared, name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      // One suite over the ControlPlane interface, run against the local services and the HTTP client.
      { test: { ...shared, name: 'contract', include: ['test/contract/**/*.test.ts'] } },
      { test: { ...shared, name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
    ],
  },
})
