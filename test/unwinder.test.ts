// The native unwinder's view of an address space built from a maps text: every file-backed module,
// and the [vdso] too, whose frames (clock_gettime's fast path) have no file to be named by.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Unwinder } from '../src/bpf/index.js';

describe('unwinder address spaces', () => {
  it('name [vdso] frames with the vDSO\'s own symbols', () => {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const line = maps.split('\n').find(l => l.endsWith('[vdso]'));
    expect(line, 'this process maps a vDSO').toBeDefined();
    const [lo, hi] = line!.split(' ')[0].split('-').map(x => BigInt(`0x${x}`));
    const u = new Unwinder();
    try {
      expect(u.setSpace(1, maps)).toBe(true);
      // every address of the mapping is the vDSO's, at its offset in the image (linked at 0, one
      // load segment from offset 0: the same offset in the image as in a file), with its build ID;
      // the mapping's last byte is past the image's own (a page holds it): no offset in the image
      const where = u.resolve(1, [lo + 0x10n, hi - 1n]);
      const buildId = expect.stringMatching(/^[0-9a-f]{40}$/);
      expect(where).toEqual([{ module: '[vdso]', addr: 0x10n, fileOffset: 0x10, buildId },
        { module: '[vdso]', addr: hi - 1n - lo, fileOffset: undefined, buildId }]);
      // and somewhere in it is clock_gettime's fast path, by name
      const names = new Set<string>();
      for (let a = 0n; a < hi - lo; a += 16n) {
        const [f] = u.symbolizeFile('[vdso]', [a], false);
        if (f?.symbol) names.add(f.symbol);
      }
      expect([...names]).toContain('__vdso_clock_gettime');
    } finally {
      u.close();
    }
  });
});
