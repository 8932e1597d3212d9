import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../sys/paths.js';
import { VerifierError, verifierReason } from './errors.js';

// test/fixtures/verifier-refused.txt: the kernel's log of loading build/test/bad.bpf.o (test/bpf/bad.bpf.c)
// on the development machine (Linux 6.18), as VerifierError.log carries it
const log = readFileSync(join(ROOT, 'test', 'fixtures', 'verifier-refused.txt'), 'utf8');

describe('verifierReason', () => {
  it("takes the verifier's last words from a real log: not its statistics, source lines or instructions", () => {
    expect(verifierReason(log)).toBe('value -2147483648 makes fp pointer be out of bounds');
  });

  it('says so when there is no log', () => {
    expect(verifierReason('')).toBe('no verifier log');
  });

  it('makes the one line a user reads', () => {
    expect(new VerifierError('refused', 13, log).message)
      .toBe('verifier rejected program refused: value -2147483648 makes fp pointer be out of bounds');
  });
});
