import { describe, expect, it } from 'vitest';
import type { OnCpuRecord } from '../collect/records.js';
import { details } from './text.js';

const on = (over: Partial<OnCpuRecord>): OnCpuRecord => ({
  type: 'oncpu', ts_ns: 0, pid: 1, tgid: 1, comm: 'w', cpu: 1, start_ts_ns: 0, end_ts_ns: 2_000_000,
  duration_ns: 2_000_000, began_before_activation: false, ongoing: false, switch_in_inferred: false, ...over,
});

describe('details of an interval', () => {
  it('says what is not known, and when a time is the scheduler\'s stamp rather than a traced switch', () => {
    expect(details(on({}))).toBe('on CPU 1 for 2.000 ms');
    expect(details(on({ switch_in_inferred: true }))).toBe('on CPU 1 for 2.000 ms (switch-in not traced: scheduler\'s stamp)');
    expect(details(on({ start_ts_ns: null, duration_ns: null, began_before_activation: true }))).toBe('on CPU 1 for (began before activation)');
    expect(details(on({ end_ts_ns: null, duration_ns: null, ongoing: true }))).toBe('on CPU 1 for (still, at deactivation)');
    expect(details(on({ start_ts_ns: null, duration_ns: null }))).toBe('on CPU 1 for ? (a switch was not traced)');
  });
});
