import { describe, expect, it } from 'vitest';
import { mappingAt, openablePath, parseMaps, readMaps } from './procmaps.js';

const SAMPLE = `55d0c0a00000-55d0c0a01000 r--p 00000000 fe:01 1234  /usr/bin/app
55d0c0a01000-55d0c0a02000 r-xp 00001000 fe:01 1234  /usr/bin/app
7f0000000000-7f0000021000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0          [stack]
7f1000000000-7f1000001000 r-xp 00002000 fe:01 99   /tmp/gone (deleted)
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]
`;

describe('procmaps', () => {
  const maps = parseMaps(SAMPLE);

  it('parses every line: addresses as bigints (past 2^53 too), offset, inode, path', () => {
    expect(maps).toHaveLength(6);
    expect(maps[1]).toEqual({ start: 0x55d0c0a01000n, end: 0x55d0c0a02000n, perms: 'r-xp', offset: 0x1000, inode: 1234, path: '/usr/bin/app' });
    expect(maps[2].path).toBe('');
    expect(maps[5].start).toBe(0xffffffffff600000n);
  });

  it('finds the mapping an address lies in', () => {
    const sorted = [...maps].sort((a, b) => (a.start < b.start ? -1 : 1));
    expect(mappingAt(sorted, 0x55d0c0a01fffn)?.perms).toBe('r-xp');
    expect(mappingAt(sorted, 0x55d0c0a02000n)).toBeUndefined();
    expect(mappingAt(sorted, 0x7ffd00000010n)?.path).toBe('[stack]');
  });

  it('reads a live process, and opens its files through its own root', () => {
    const self = readMaps(process.pid)!;
    expect(self.some(m => m.path.endsWith('/libc.so.6') && m.perms.includes('x'))).toBe(true);
    expect(readMaps(0x3fffffff)).toBeUndefined();
    expect(openablePath(42, maps[4])).toBe('/proc/42/root/tmp/gone');
  });
});
