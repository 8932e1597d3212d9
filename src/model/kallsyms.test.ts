import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KernelSymbols, formatKernelSymbol } from './kallsyms.js';

const TEXT = `ffffffff81000000 T _stext
ffffffff81000100 T do_thing
ffffffff81000200 t helper
ffffffff82000000 D __start_rodata
ffffffffc0002000 t later_fn\t[mymod]
ffffffffc0001000 t mod_fn\t[mymod]
0000000000000000 T hidden
0000000000001000 A fixed_percpu_data
`;

const name = (k: KernelSymbols, a: bigint) => {
  const s = k.lookup(a);
  return s && formatKernelSymbol(s);
};

describe('kallsyms', () => {
  it("gives a function's range, up to the next symbol, for the kernel proper only", () => {
    const k = KernelSymbols.parse(TEXT);
    expect(k.range('do_thing')).toEqual({ lo: 0xffffffff81000100n, hi: 0xffffffff81000200n });
    expect(k.range('helper')).toEqual({ lo: 0xffffffff81000200n, hi: 0xffffffff82000000n });
    expect(k.range('do_thin')).toBeUndefined();
    expect(k.range('mod_fn')).toBeUndefined(); // a module's
    expect(k.range('__start_rodata')).toBeUndefined(); // data
  });

  it('names an address by the closest symbol at or below it, with module and offset, in any order', () => {
    const k = KernelSymbols.parse(TEXT);
    expect(k.size).toBe(6); // hidden (kptr_restrict) and per-CPU offsets name nothing
    expect(name(k, 0xffffffff81000105n)).toBe('do_thing+0x5');
    expect(name(k, 0xffffffff81000200n)).toBe('helper+0x0');
    expect(name(k, 0xffffffffc0001010n)).toBe('mod_fn+0x10 [mymod]'); // modules come unsorted
    expect(name(k, 0xffffffffc0002001n)).toBe('later_fn+0x1 [mymod]');
    expect(name(k, 0xffffffff80000000n)).toBeUndefined();
    expect(name(k, 0x1000n)).toBeUndefined();
    expect(k.lookup(0xffffffff82000040n)?.data).toBe(true);
  });

  it('reads a file chunk by chunk off the event loop to the same index (loadAsync)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kallsyms-'));
    try {
      // long enough to span several of the indexer's 256 KiB reads, with a line cut at each one's end
      const lines = TEXT.trim().split('\n');
      for (let i = 0; i < 20000; i++) lines.push(`ffffffff9${(i * 16).toString(16).padStart(7, '0')} t fn_${i}`);
      writeFileSync(join(dir, 'kallsyms'), lines.join('\n') + '\n');
      const k = await KernelSymbols.loadAsync(join(dir, 'kallsyms'));
      expect(k.size).toBe(6 + 20000);
      expect(name(k, 0xffffffffc0001010n)).toBe('mod_fn+0x10 [mymod]');
      expect(name(k, 0xffffffff90000000n + 19999n * 16n + 3n)).toBe('fn_19999+0x3');
      expect(name(k, 0xffffffff90000001n)).toBe('fn_0+0x1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('frames: a return address is looked up one byte back, and data or unknown addresses stay hex', () => {
    const k = KernelSymbols.parse(TEXT);
    expect(k.symbolize(0xffffffff81000100n, true)).toBe('_stext+0x100'); // returns to do_thing's start: the call was in _stext
    expect(k.symbolize(0xffffffff81000100n, false)).toBe('do_thing+0x0');
    expect(k.symbolize(0xffffffff81000100n, true)).toBe('_stext+0x100'); // cached apart from the exact lookup
    expect(k.symbolize(0xffffffff82000010n)).toBe('0xffffffff82000010');
    expect(k.symbolize(0x7f0000001000n)).toBe('0x7f0000001000');
  });

  it('says why a file cannot be read', async () => {
    expect(() => KernelSymbols.load('/nonexistent/kallsyms')).toThrow(/ENOENT|no such file/i);
    await expect(KernelSymbols.loadAsync('/nonexistent/kallsyms')).rejects.toThrow(/ENOENT|no such file/i);
    expect(KernelSymbols.parse('').size).toBe(0);
  });

  it('tells whether kallsyms lists data symbols (CONFIG_KALLSYMS_ALL)', () => {
    expect(KernelSymbols.parse(TEXT).hasData).toBe(false);
    const data = Array.from({ length: 1200 }, (_, i) => `ffffffff83${(i * 16).toString(16).padStart(6, '0')} d var${i}`).join('\n');
    const k = KernelSymbols.parse(`${TEXT}${data}\nffffffff84000000 B jiffies_lock\nffffffff84000100 B next_var\n`);
    expect(k.hasData).toBe(true);
    expect(name(k, 0xffffffff84000008n)).toBe('jiffies_lock+0x8');
  });

  it("reads this kernel's /proc/kallsyms", () => {
    const lines = readFileSync('/proc/kallsyms', 'utf8').split('\n');
    const pick = (fn: string) => BigInt(`0x${lines.find(l => l.endsWith(` T ${fn}`))!.split(' ')[0]}`);
    const k = KernelSymbols.load();
    expect(k.size).toBeGreaterThan(10_000);
    expect(['schedule', 'do_exit', 'vfs_read'].map(f => name(k, pick(f) + 4n))).toEqual(['schedule+0x4', 'do_exit+0x4', 'vfs_read+0x4']);
  });
});
