import { describe, expect, it } from 'vitest';
import type { OffCpuRecord } from '../collect/records.js';
import { OffCpuStacks } from './offcpustacks.js';

const off = (kstack: readonly string[], ustack: readonly string[], duration_ns: number | null, comm = 'w'): OffCpuRecord => ({
  type: 'offcpu', ts_ns: 0, pid: 1, tgid: 1, comm, cpu: 0, cpu_in: 0, start_ts_ns: 0, end_ts_ns: duration_ns,
  duration_ns, state: 'S', state_name: 'sleeping', kstack, ustack, ustack_locs: ustack.map((_, i) => `1+0x${i}`), ustack_mode: 'dwarf', ustack_truncated: false,
  began_before_activation: false, ongoing: false, switch_in_inferred: false,
});

describe('OffCpuStacks', () => {
  it('adds up intervals by (comm, state, stacks): equal frames count as one stack, shared or not', () => {
    const t = new OffCpuStacks();
    const k = Object.freeze(['do_nanosleep+0x6a', 'hrtimer_nanosleep+0x9e']);
    t.observe(off(k, ['main'], 10));
    t.observe(off([...k], ['main'], 30)); // the same frames in another array
    t.observe(off(Object.freeze([...k]), Object.freeze(['main']), 5));
    t.observe(off(k, ['main', 'start'], 7));
    t.observe(off(k, ['main'], 1, 'other'));
    t.observe(off(k, ['main'], null)); // ongoing: no duration
    expect(t.distinct).toBe(3);
    expect(t.top(1)[0]).toMatchObject({ comm: 'w', count: 3, total_ns: 45, max_ns: 30, kstack: k, ustack: ['main'] });
  });
});
