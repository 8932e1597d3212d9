import { describe, expect, it } from 'vitest';
import { kernelKind, toRecord, type LockEntry } from './lockstat.js';
import type { Symbolizer } from './symbols.js';

const sym: Symbolizer = {
  kernelStack: a => a.map(x => ({ '1': 'bpf_trace_run2+0x8', '2': '__traceiter_contention_end+0x3', '3': 'rwsem_down_write_slowpath+0x1',
    '4': 'down_write+0x2' } as Record<string, string>)[String(x)] ?? '[unknown]'),
  kernelData: () => null,
  // 12 and what is not listed: outside any file
  userStack: (_t, a) => {
    const frames = a.map(x => ({ '10': 'pthread_mutex_lock+0x0 (libc.so.6)', '11': 'worker+0x2b (app)', '13': 'main+0x1 (app)' } as
      Record<string, string>)[String(x)] ?? `0x${x.toString(16)}`);
    return { frames, locs: frames.map((f, i) => (f.startsWith('0x') ? f : `${i + 1}+0x${i}`)) };
  },
  addMaps: () => undefined,
};

const entry = (over: Partial<LockEntry>): LockEntry => ({
  addr: 0x1000n, tgid: 5, pid: 6, kind: { source: 'pthread', kind: 'mutex', mode: null }, acquisitions: 4, contended: 2,
  failed: 1, waitTotal: 400, waitMin: 50, waitMax: 200, waitHist: [0, 0, 0, 0, 0, 0, 2, 2], holdCount: 4, holdTotal: 8000, holdMin: 1000, holdMax: 4000,
  comm: 'app', stack: [], ...over,
});

describe('kernelKind', () => {
  it.each([
    [1, 'spinlock', null], [1 | 2, 'rwlock', 'read'], [1 | 4, 'rwlock', 'write'], [32, 'mutex', null],
    [2, 'rwsem', 'read'], [4, 'rwsem', 'write'], [16 | 4, 'percpu_rwsem', 'write'], [8, 'rtmutex', null], [0, 'kernel', null],
  ])('LCB flags %i: %s %s', (flags, kind, mode) => {
    expect(kernelKind(flags)).toEqual({ source: 'kernel', kind, mode });
  });
});

describe('toRecord', () => {
  it('pthread: averages over acquisitions and holds, the longest holder, a user stack cut where the frame walk strays', () => {
    const r = toRecord(entry({ stack: [10n, 11n, 13n, 12n, 13n] }), 99, 'app', sym, { pid: 7, ns: 4000 });
    expect(r).toMatchObject({
      type: 'lock', ts_ns: 99, pid: 6, tgid: 5, comm: 'app', source: 'pthread', kind: 'mutex', addr: '0x1000', symbol: null,
      acquisitions: 4, contended: 2, failed: 1, wait_avg_ns: 100, hold_avg_ns: 2000, longest_holder_pid: 7, longest_hold_ns: 4000,
      ustack: ['pthread_mutex_lock+0x0 (libc.so.6)', 'worker+0x2b (app)', 'main+0x1 (app)'],
      ustack_addrs: ['0xa', '0xb', '0xd'], ustack_locs: ['1+0x0', '2+0x1', '3+0x2'], kstack: null,
    });
  });

  it('kernel: no acquisitions or holds, the kernel stack without the tracing frames above the lock', () => {
    const r = toRecord(entry({ kind: kernelKind(4), acquisitions: 0, contended: 3, holdCount: 0, stack: [1n, 2n, 3n, 4n] }), 1, 'app', sym);
    expect(r).toMatchObject({
      kind: 'rwsem', mode: 'write', acquisitions: null, contended: 3, wait_avg_ns: 133, hold_count: null, hold_avg_ns: null,
      longest_holder_pid: null, ustack: null, ustack_locs: null, kstack: ['rwsem_down_write_slowpath+0x1', 'down_write+0x2'], kstack_addrs: ['0x3', '0x4'],
    });
  });
});
