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

describe('stacks the kernel cannot unwind', () => {
  it('are copied within a budget; past it an interval keeps everything but its user stack, and says so', async () => {
    // no .eh_frame_hdr: no table for the program's own frames, so every stack is a copy. 3000 round
    // trips are 6000 switch-outs, more than any CPU's budget (200 per 100 ms) unless they take
    // seconds, and 12,000 records: fewer than the ring holds, so none is lost whatever the reader's pace
    // every interval one by one (--offcpu-min 0): each one not given its user stack is counted below
    const r = await cli(['trace', '-k', '0', '--json', '--offcpu-min', '0', '--', 'taskset', '-c', '0', workload('futexpong-nohdr'), '3000'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^kernel +(\d+) records sent, \1 received, 0 dropped$/m);
    const skipped = Number(/^(?:lost)? +(\d+) ustack_budget: /m.exec(r.stderr)?.[1] ?? 0);
    // (taskset's and the gate's stacks, before the exec, may go through their tables)
    const copies = Number(/^ustacks +\d+ unwound in the kernel, (\d+) from stack copies$/m.exec(r.stderr)?.[1] ?? NaN);
    expect(skipped).toBeGreaterThan(0);
    const recs = r.stdout.trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>);
    const waits = recs.filter(x => x.type === 'offcpu' && x.comm === 'futexpong-nohdr' && x.duration_ns !== null);
    // every wait is there, with its kernel stack; the ones past the budget without a user stack
    expect(waits.length).toBeGreaterThanOrEqual(6000);
    expect(waits.every(w => (w.kstack as string[]).length > 0)).toBe(true);
    // each stack not taken is one off-CPU interval without it (those that began before activation have none either)
    const without = recs.filter(x => x.type === 'offcpu' && x.ustack_mode === 'none' && !x.began_before_activation);
    expect(without.length).toBe(skipped);
    // the copies made are unwound by procimage: a futex wait's down to the function that waits
    const copied = waits.filter(w => w.ustack_mode === 'dwarf');
    expect(copied.length).toBeLessThanOrEqual(copies);
    const futex = copied.filter(w => (w.kstack as string[]).some(f => /^futex_wait/.test(f)));
    expect(futex.length).toBeGreaterThan(0);
    for (const w of futex) expect((w.ustack as string[]).some(f => /^(main|other)\+/.test(f)), JSON.stringify(w.ustack)).toBe(true);
  });
});
