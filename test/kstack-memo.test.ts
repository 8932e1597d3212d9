// The kernel stack memo (bpf/kmemo.bpf.h): a switch-out from where the thread switched out before
// takes its kernel stack from the thread's memo instead of walking it. With PROCIMAGE_KSTACK_CHECK=1
// every remembered stack is walked too and compared, frame for frame (hash and depth): the oracle is
// the kernel's own unwinder (bpf_get_stack, ORC), on the very same switch-out.
import { describe, expect, it } from 'vitest';
import { cli, workload } from './helpers.js';

interface KStacks { remembered: number; walked: number; unplaced: number; differed: number }

async function kstacks(args: string[], cmd: string[]): Promise<{ k: KStacks; stdout: string }> {
  const r = await cli(['trace', ...args, '--json', '--', ...cmd],
    { env: { ...process.env, PROCIMAGE_KSTACK_CHECK: '1' }, timeoutMs: 120_000 });
  expect(r.code, r.stderr).toBe(0);
  const m = /^kstacks +(\d+) remembered, (\d+) walked \((\d+) not rememberable\); check: (\d+) remembered differed from their walk$/m.exec(r.stderr);
  expect(m, r.stderr).not.toBeNull();
  const [remembered, walked, unplaced, differed] = m!.slice(1, 5).map(Number);
  return { k: { remembered, walked, unplaced, differed }, stdout: r.stdout };
}

describe('kernel stacks remembered per thread', () => {
  it('a ping-pong switches out from two places again and again: remembered, never different from a walk', async () => {
    const { k, stdout } = await kstacks(['-k', '1', '--stack', 'none', '--offcpu-min', '0'], ['taskset', '-c', '0', workload('futexpong'), '3000']);
    // 6000 switch-outs of the two threads (a few walks: each place's first, and those of the exec before)
    expect(k.remembered).toBeGreaterThan(k.walked);
    expect(k.differed).toBe(0);
    // what the records say: every futex wait has its kernel stack, from __schedule to the system call's entry
    const recs = stdout.trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>);
    const waits = recs.filter(x => x.type === 'offcpu' && x.comm === 'futexpong' && x.state === 'S' && x.duration_ns !== null);
    expect(waits.length).toBeGreaterThan(1000);
    for (const w of waits) {
      const ks = w.kstack as string[];
      expect(ks[0], JSON.stringify(ks)).toMatch(/^__schedule\+/);
      expect(ks.some(f => /^futex_wait/.test(f)), JSON.stringify(ks)).toBe(true);
      expect(ks[ks.length - 1], JSON.stringify(ks)).toMatch(/^entry_SYSCALL_64/);
    }
  });

  it('many kinds of waits (pipes, futexes, semaphores, polls, preemptions): every remembered stack is the walked one', async () => {
    const { k } = await kstacks(['-k', '1', '--stack', 'dwarf'],
      ['stress-ng', '--switch', '1', '--pipe', '1', '--futex', '1', '--sem', '1', '--poll', '1', '-t', '2']);
    expect(k.remembered).toBeGreaterThan(1000);
    expect(k.differed).toBe(0);
  });
});
