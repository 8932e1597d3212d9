import { describe, expect, it } from 'vitest';
import { commandLine, duration, seconds9 } from './format.js';

describe('seconds9', () => {
  it('prints ns exactly with nine decimals', () => {
    expect(seconds9(0)).toBe('0.000000000');
    expect(seconds9(1)).toBe('0.000000001');
    expect(seconds9(1_234_567_890)).toBe('1.234567890');
    expect(seconds9(-5_000)).toBe('-0.000005000');
    expect(seconds9(86_400_000_000_123)).toBe('86400.000000123');
  });
});

describe('duration', () => {
  it('picks a unit people read at a glance', () => {
    expect(duration(812)).toBe('812 ns');
    expect(duration(12_345)).toBe('12.345 µs');
    expect(duration(3_456_000)).toBe('3.456 ms');
    expect(duration(1_002_345_000)).toBe('1.002345 s');
  });
});

describe('commandLine', () => {
  it('quotes words a shell would split', () => {
    expect(commandLine(['sh', '-c', "echo 'hi' there"])).toBe(`sh -c 'echo '\\''hi'\\'' there'`);
    expect(commandLine(['ls', '-l', '/tmp'])).toBe('ls -l /tmp');
  });
});
