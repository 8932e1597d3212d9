import { describe, expect, it } from 'vitest';
import type { OffCpuRecord, OnCpuRecord } from '../collect/records.js';
import { details } from './text.js';

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
