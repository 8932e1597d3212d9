// The layers of src/ import only downwards (sys, bpf -> collect -> model -> output -> control -> cli),
// only two modules touch koffi, and `ctl` never loads libbpf (its start-up is on the activation path).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const SRC = join(ROOT, 'src');
const LAYER: Record<string, number> = { sys: 0, bpf: 1, gen: 2, collect: 2, model: 3, output: 4, control: 5, cli: 6 };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap(f => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s+'([^']+)'|import\('([^']+)'\)/g)].map(m => m[1] ?? m[2]);
}

const layerOf = (file: string) => LAYER[relative(SRC, file).split('/')[0]];
const all = files(SRC);
const graph = new Map(all.map(f => [f, imports(f).filter(i => i.startsWith('.'))
  .map(i => resolve(dirname(f), i.replace(/\.js$/, '.ts')))]));

describe('layers', () => {
  it('every folder of src/ has a layer', () => {
    for (const f of all) expect(layerOf(f), relative(ROOT, f)).toBeDefined();
  });

  it('no module imports from a layer above its own', () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) for (const d of deps) {
      if (layerOf(d) > layerOf(f)) bad.push(`${relative(SRC, f)} -> ${relative(SRC, d)}`);
    }
    expect(bad).toEqual([]);
  });

  it('only src/bpf/ffi.ts and src/sys/libc.ts use koffi', () => {
    const users = all.filter(f => imports(f).includes('koffi')).map(f => relative(SRC, f)).sort();
    expect(users).toEqual(['bpf/ffi.ts', 'sys/libc.ts']);
  });

  it('ctl reaches neither libbpf nor koffi', () => {
    const seen = new Set<string>();
    const walk = (f: string) => { if (!seen.has(f)) { seen.add(f); for (const d of graph.get(f) ?? []) walk(d); } };
    walk(join(SRC, 'cli/ctl.ts'));
    const reached = [...seen].map(f => relative(SRC, f));
    expect(reached).not.toContain('bpf/ffi.ts');
    expect(reached).not.toContain('sys/libc.ts');
  });
});
