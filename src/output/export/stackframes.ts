// Frames as flame graphs and profiles name them: a function by its name alone (its offset would split
// one function into as many frames as it has call sites), a frame without a symbol as `module+0xOFF`
// (what pprof and Pyroscope can symbolize later), kernel functions marked as such.
import { parseFrame } from '../../collect/frames.js';

/** Frames already named: a recording repeats the same few hundred frames millions of times. */
const CACHE = 100_000;
const userNames = new Map<string, string>();
const kernelNames = new Map<string, string>();

function cached(cache: Map<string, string>, f: string, name: (f: string) => string): string {
  let n = cache.get(f);
  if (n === undefined) {
    if (cache.size >= CACHE) cache.clear();
    cache.set(f, n = name(f));
  }
  return n;
}

/** A user frame's name in a flame graph: "main", "ns::Worker::run(int)", "stress-ng+0x3ba15", "0x7f12...". */
export function userFrameName(f: string): string {
  return cached(userNames, f, () => {
    const p = parseFrame(f, 'user');
    if (p.kind === 'symbol') return p.fn!;
    if (p.kind === 'module_offset') return `${p.module}+0x${p.offset!.toString(16)}`;
    return f;
  });
}

/** A kernel frame's name: "do_nanosleep", "nvme_irq [nvme]". */
export function kernelFrameName(f: string): string {
  return cached(kernelNames, f, () => {
    const p = parseFrame(f, 'kernel');
    if (p.kind !== 'symbol') return f;
    return p.module ? `${p.fn} [${p.module}]` : p.fn!;
  });
}
