// The web page, bundled at build time (make): web/src/main.ts and what it imports — the page's
// model of a recording from src/output/page/, and the kept libraries (uPlot, d3-flame-graph) — into
// one script, and the page's style with the libraries' into one stylesheet. Nothing is fetched from
// anywhere at run time: procimage serves these, or writes them into a self-contained page.
//   tsx tools/build-web.ts OUTDIR
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const out = process.argv[2] ?? join(root, 'build', 'web');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'web/src/main.ts')],
  bundle: true,
  format: 'iife',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  outfile: join(out, 'page.js'),
  logLevel: 'warning',
});
const css = [
  join(root, 'node_modules/uplot/dist/uPlot.min.css'),
  join(root, 'node_modules/d3-flame-graph/dist/d3-flamegraph.css'),
  join(root, 'web/src/page.css'),
].map(f => readFileSync(f, 'utf8')).join('\n');
writeFileSync(join(out, 'page.css'), css);
