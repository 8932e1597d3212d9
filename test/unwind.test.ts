// The kernel's user-stack unwinder (bpf/unwind.bpf.h, from .eh_frame tables native/cfitable.c makes)
// against libdwfl's on the very same stacks: with --stack dwarf-copy and PROCIMAGE_UNWIND_CHECK=1
// every switch-out carries both the stack copy libdwfl unwinds and the frames the kernel found, and
// procimage counts where they differ. The oracle is libdwfl (elfutils), which perf uses too.
import { describe, expect, it } from 'vitest';
import { cli, workload } from './helpers.js';

interface Check { compared: number; same: number; deeper: number; differ: number; notInKernel: number; examples: string }

async function check(cmd: string[]): Promise<Check> {
  const r = await cli(['trace', '-k', '0', '--stack', 'dwarf-copy', '--json', '--', ...cmd],
    { env: { ...process.env, PROCIMAGE_UNWIND_CHECK: '1' }, timeoutMs: 120_000 });
  expect(r.code, r.stderr).toBe(0);
  const m = /unwind check: (\d+) stacks compared: (\d+) same, (\d+) deeper in the kernel, (\d+) differ; (\d+) not unwound in the kernel\n((?: {2}.*\n)*)/.exec(r.stderr);
  expect(m, r.stderr).not.toBeNull();
  const [compared, same, deeper, differ, notInKernel] = m!.slice(1, 6).map(Number);
  return { compared, same, deeper, differ, notInKernel, examples: m![6] };
}

describe('the kernel unwinds user stacks as libdwfl does', () => {
  it('a C program without frame pointers, through glibc to main', async () => {
    const c = await check([workload('runsleep'), '40', '2']);
    expect(c.compared).toBeGreaterThan(0);
    expect(c.differ, c.examples).toBe(0);
    expect(c.same + c.deeper).toBe(c.compared);
  });

  it('a PIE program with two dozen libraries, switching tens of thousands of times', async () => {
    const c = await check(['stress-ng', '--switch', '1', '--switch-freq', '2000', '-t', '2']);
    expect(c.compared).toBeGreaterThan(1000);
    expect(c.differ, c.examples).toBe(0);
    // copies are the exception: each process's first switches, before its tables are in the kernel
    expect(c.notInKernel).toBeLessThan(c.compared);
  });

  it('C++ through libstdc++', async () => {
    const c = await check([workload('cxxwork'), 'sleep', '30', '5']);
    expect(c.differ, c.examples).toBe(0);
  });

  it('a stack deeper than the copy: the kernel goes on where the copy ends', async () => {
    const c = await check([workload('deeprec'), '100', '30', '5']);
    expect(c.compared).toBeGreaterThan(0);
    expect(c.differ, c.examples).toBe(0);
    expect(c.deeper).toBeGreaterThan(0);
  });
});
