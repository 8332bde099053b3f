import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Crash and service tests spawn processes and share two cores: keep files from piling up.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
