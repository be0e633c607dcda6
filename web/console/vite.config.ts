import { defineConfig } from 'vitest/config';

// Fixed file names (no content hashes) so the committed dist/ is
// deterministic and embeddable; the Go server serves them with no-cache.
export default defineConfig({
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: false,
    sourcemap: false,
    reportCompressedSize: false,
    rolldownOptions: {
      output: {
        entryFileNames: 'assets/console.js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: (a) => (a.names?.[0]?.endsWith('.css') ? 'assets/console.css' : 'assets/[name][extname]'),
      },
    },
  },
  test: { environment: 'node', include: ['src/**/*.test.ts'] },
});
