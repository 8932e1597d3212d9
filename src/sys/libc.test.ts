import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SysError, readWholeFile } from './libc.js';

describe('readWholeFile', () => {
  it('reads all of a /proc file, a page per read(2), in one call', async () => {
    const text = await readWholeFile('/proc/self/maps');
    expect(text.toString()).toMatch(/\[stack\]/);
  });

  it('grows past its first guess, and says why a file cannot be read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'readall-'));
    try {
      const body = Buffer.from('x'.repeat(10000) + 'end');
      writeFileSync(join(dir, 'f'), body);
      expect((await readWholeFile(join(dir, 'f'), 1000)).equals(body)).toBe(true);
      await expect(readWholeFile(join(dir, 'missing'))).rejects.toThrow(SysError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
