import { describe, expect, it } from 'vitest';
import type { OffCpuRecord, Waker } from '../collect/records.js';
import { WakeChains } from './wakechains.js';

const waker = (pid: number, at: number, context: Waker['context'] = 'task', target = true): Waker => ({
  pid, tgid: 1, comm: `t${pid}`, context, target, wake_ts_ns: at, wake_delay_ns: 0, kstack: [], ustack: [], ustack_locs: [],
  ustack_mode: 'none', ustack_truncated: false,
});
const wait = (pid: number, start: number, end: number, w: Waker | null): OffCpuRecord => ({
  type: 'offcpu', ts_ns: end, pid, tgid: 1, comm: `t${pid}`, cpu: 0, cpu_in: 0, start_ts_ns: start, end_ts_ns: end,
  duration_ns: end - start, state: 'S', state_name: 'sleeping', kstack: [], ustack: [], ustack_locs: [], ustack_mode: 'none',
  ustack_truncated: false, began_before_activation: false, ongoing: false, switch_in_inferred: false, waker: w,
});

describe('WakeChains', () => {
  it('follows A <- B <- C back through the waits each waker was in, and adds up time by waker', () => {
    const c = new WakeChains();
    // C sleeps 10-110 (a timer ends it); B waits 20-111 for C; A waits 15-113 for B
    c.observe(wait(3, 10, 110, waker(0, 109, 'hardirq', false)));
    c.observe(wait(2, 20, 111, waker(3, 110)));
    c.observe(wait(1, 15, 113, waker(2, 112)));
    const [chain] = c.topChains(5);
    expect(chain.links.map(l => [l.pid, l.duration_ns])).toEqual([[1, 98], [2, 91], [3, 100]]);
    expect(chain.end).toBe('interrupt');
    expect(c.topWakers(5).map(w => [w.comm, w.waker, w.total_ns])).toEqual([['t3', 'interrupt', 100], ['t1', 't2[1]', 98], ['t2', 't3[1]', 91]]);
  });

  it('stops at a waker that was not waiting while its wakee was', () => {
    const c = new WakeChains();
    c.observe(wait(3, 10, 20, waker(0, 19, 'hardirq', false)));
    c.observe(wait(2, 5, 21, waker(3, 20))); // B's wait ended before A's began: A did not wait on it
    c.observe(wait(1, 30, 50, waker(2, 49)));
    expect(c.topChains(5)).toEqual([]); // A <- B only: two threads are no chain
  });

  it('counts migrations per thread', () => {
    const c = new WakeChains();
    for (const pid of [7, 7, 8]) c.observe({ type: 'migrate', ts_ns: 1, pid, tgid: 7, comm: 'm', cpu: 0, from_cpu: 0, to_cpu: 1 });
    expect(c.migrationCounts().map(m => [m.pid, m.count])).toEqual([[7, 2], [8, 1]]);
  });
});
