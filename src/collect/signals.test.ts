import { describe, expect, it } from 'vitest';
import { decodeWaitStatus, signalName } from './signals.js';

describe('decodeWaitStatus', () => {
  it('reads exit codes, signals and core dumps as the kernel stores them', () => {
    expect(decodeWaitStatus(0)).toEqual({ exit_code: 0, signal: null, core_dumped: false });
    expect(decodeWaitStatus(3 << 8)).toEqual({ exit_code: 3, signal: null, core_dumped: false });
    expect(decodeWaitStatus(255 << 8)).toEqual({ exit_code: 255, signal: null, core_dumped: false });
    expect(decodeWaitStatus(9)).toEqual({ exit_code: null, signal: 9, core_dumped: false });
    expect(decodeWaitStatus(11 | 0x80)).toEqual({ exit_code: null, signal: 11, core_dumped: true });
  });

  it('names signals', () => {
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName(15)).toBe('SIGTERM');
    expect(signalName(64)).toMatch(/^SIG/);
  });
});
