// The CLI that bin/procimage runs, bundled at build time (make): src/cli/main.ts and everything it
// imports, commander and the other pure-JS dependencies included, into dist/bundle/main.js. Node then
// reads, resolves and compiles a handful of files instead of ~200 modules, each found by walking the
// file system: ~25 ms less CPU at every start (docs/performance.md, Start-up). What a subcommand
// imports lazily (`await import(...)`) stays a separate chunk, loaded only by the runs that use it
// (ctl never loads libbpf or koffi; trace without --listen never loads prom-client).
// koffi stays external: it loads its native addon from its own package directory.
// dist/bundle sits two levels below the root like dist/<layer>/*.js, so src/sys/paths.ts finds the
// root from either.
//   tsx tools/build-cli.ts OUTDIR
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const out = process.argv[2] ?? join(root, 'dist', 'bundle');
rmSync(out, { recursive: true, force: true }); // chunks are named by content hash: no stale ones left behind
await build({
  entryPoints: [join(root, 'src/cli/main.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  splitting: true,
  outdir: out,
  external: ['koffi'],
  // bundled CommonJS dependencies (commander, prom-client) call require() for Node's own modules,
  // which an ES module does not have
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
});
