import { describe, expect, it } from 'vitest';
import type { OffCpuRecord, OnCpuRecord } from '../collect/records.js';
import { details, shortFrame, whyAndWhere } from './text.js';

const on = (over: Partial<OnCpuRecord>): OnCpuRecord => ({
  type: 'oncpu', ts_ns: 0, pid: 1, tgid: 1, comm: 'w', cpu: 1, start_ts_ns: 0, end_ts_ns: 2_000_000,
  duration_ns: 2_000_000, began_before_activation: false, ongoing: false, switch_in_inferred: false, ...over,
});

describe('details of an interval', () => {
  it('says what is not known, and when a time is the scheduler\'s stamp rather than a traced switch', () => {
    expect(details(on({}))).toBe('on CPU 1 for 2.000 ms');
    expect(details(on({ switch_in_inferred: true }))).toBe('on CPU 1 for 2.000 ms (switch-in not traced: scheduler\'s stamp)');
    expect(details(on({ start_ts_ns: null, duration_ns: null, began_before_activation: true }))).toBe('on CPU 1 since before activation');
    expect(details(on({ start_ts_ns: null, end_ts_ns: null, duration_ns: null, began_before_activation: true, ongoing: true })))
      .toBe('on CPU 1 since before activation, still at deactivation');
    expect(details(on({ end_ts_ns: null, duration_ns: null, ongoing: true }))).toBe('on CPU 1 for (still, at deactivation)');
    expect(details(on({ start_ts_ns: null, duration_ns: null }))).toBe('on CPU 1 for ? (a switch was not traced)');
  });
});

describe('details of an off-CPU interval that began before activation', () => {
  it('says since when, and nothing made up about how it left', () => {
    const r: OffCpuRecord = {
      type: 'offcpu', ts_ns: 5, pid: 7, tgid: 7, comm: 'procimage-gate', cpu: 0, cpu_in: 0, start_ts_ns: null, end_ts_ns: 5,
      duration_ns: null, state: '?', state_name: 'unknown (before activation)', kstack: [], ustack: [], ustack_locs: [], ustack_mode: 'none',
      ustack_truncated: false, began_before_activation: true, ongoing: false, switch_in_inferred: false,
    };
    expect(details(r)).toBe('off CPU 0 since before activation');
    expect(details({ ...r, start_ts_ns: 1, duration_ns: 4, state: 'S', state_name: 'sleeping', began_before_activation: false,
      kstack: ['__schedule+0x1', 'do_nanosleep+0x2'], ustack: ['b+0x3 (w) w.c:9'] })).toBe('off CPU 0 for 4 ns · S sleeping · do_nanosleep ← b (w.c:9)');
  });
});

describe('frames in a few words', () => {
  it('drop a C++ function\'s parameters and return type, keep where it is', () => {
    expect(shortFrame('toplev::main(int, char**)+0x1c (cc1plus) toplev.cc:2278')).toBe('toplev::main (toplev.cc:2278)');
    expect(shortFrame('void ns::drive<ns::Worker>(ns::Worker&, int)+0x9 (cxxwork)')).toBe('ns::drive<ns::Worker> (cxxwork)');
    expect(shortFrame('(anonymous namespace)::Pass::run(llvm::Module&) const+0x10 (opt)')).toBe('(anonymous namespace)::Pass::run (opt)');
    expect(shortFrame('do_nanosleep+0x5e', 'kernel')).toBe('do_nanosleep');
    expect(shortFrame('vcpu_run+0x7b1 [kvm]', 'kernel')).toBe('vcpu_run [kvm]');
  });

  it('keep a frame without a function as it is: its offset is all there is', () => {
    expect(shortFrame('stress-ng+0x1a15')).toBe('stress-ng+0x1a15');
    expect(shortFrame('0x55b19ab7ba15')).toBe('0x55b19ab7ba15');
  });

  it('say where with the program\'s innermost frame, named or not, past the libraries\'', () => {
    const k = ['__schedule+0x1', 'schedule+0x2', 'futex_wait_queue+0x3'];
    expect(whyAndWhere(k, ['__lll_lock_wait+0x2b (libc.so.6)', 'libstdc++.so.6.0.30+0xd44a3',
      'ns::Worker::locked(int)+0x28 (cxxwork) cxxwork.cc:47'])).toBe('futex_wait_queue ← ns::Worker::locked (cxxwork.cc:47)');
    expect(whyAndWhere(k, ['clock_nanosleep+0x23 (libc.so.6)', 'libc.so.6+0x1234', 'stress-ng+0x1a15', 'main+0x1 (stress-ng)']))
      .toBe('futex_wait_queue ← stress-ng+0x1a15');
    expect(whyAndWhere(k, ['0x7f0000001000', 'clock_nanosleep+0x23 (libc.so.6)'])).toBe('futex_wait_queue ← 0x7f0000001000');
  });
});
