import { defineConfig } from 'vitest/config';

// Tests load real BPF programs into the running kernel (CI runs as root on the same kind of
// machine). Files run one at a time: kernel tests measure what processes do, and two at once on
// two cores would disturb each other.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
