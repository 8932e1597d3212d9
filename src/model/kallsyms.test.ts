import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatKernelSymbol, resolveKallsyms, resolveKallsymsText, resolveKernelAddresses } from './kallsyms.js';

const TEXT = `ffffffff81000000 T _stext
ffffffff81000100 T do_thing
ffffffff81000200 t helper
ffffffff82000000 D __start_rodata
ffffffffc0002000 t later_fn\t[mymod]
ffffffffc0001000 t mod_fn\t[mymod]
0000000000000000 T hidden
`;

const name = (text: string, a: bigint) => {
  const s = resolveKallsymsText([a], text).symbols.get(a);
  return s && formatKernelSymbol(s);
};

describe('kallsyms', () => {
  it('names an address by the closest symbol at or below it, with module and offset, in any order', () => {
    expect(name(TEXT, 0xffffffff81000105n)).toBe('do_thing+0x5');
    expect(name(TEXT, 0xffffffff81000200n)).toBe('helper+0x0');
    expect(name(TEXT, 0xffffffffc0001010n)).toBe('mod_fn+0x10 [mymod]'); // modules come unsorted
    expect(name(TEXT, 0xffffffffc0002001n)).toBe('later_fn+0x1 [mymod]');
    expect(name(TEXT, 0xffffffff80000000n)).toBeUndefined();
    expect(resolveKallsymsText([0xffffffff82000040n], TEXT).symbols.get(0xffffffff82000040n)?.data).toBe(true);
  });

  it('reads the text in pieces: lines cut anywhere between two reads come out whole', () => {
    const all = Buffer.from(TEXT);
    const r = resolveKallsyms([0xffffffffc0001010n, 0xffffffff81000105n], () => {
      let pos = 0;
      return buf => { // 7 bytes at a time
        const n = all.copy(buf, 0, pos, Math.min(all.length, pos + 7, pos + buf.length));
        pos += n;
        return n;
      };
    });
    expect(formatKernelSymbol(r.symbols.get(0xffffffffc0001010n)!)).toBe('mod_fn+0x10 [mymod]');
    expect(formatKernelSymbol(r.symbols.get(0xffffffff81000105n)!)).toBe('do_thing+0x5');
  });

  it('tells whether kallsyms lists data symbols (CONFIG_KALLSYMS_ALL)', () => {
    expect(resolveKallsymsText([], TEXT).hasData).toBe(false);
    const data = Array.from({ length: 1200 }, (_, i) => `ffffffff83${(i * 16).toString(16).padStart(6, '0')} d var${i}`).join('\n');
    const r = resolveKallsymsText([0xffffffff84000008n], `${TEXT}${data}\nffffffff84000000 B jiffies_lock\nffffffff84000100 B next_var\n`);
    expect(r.hasData).toBe(true);
    expect(formatKernelSymbol(r.symbols.get(0xffffffff84000008n)!)).toBe('jiffies_lock+0x8');
  });

  it('reads this kernel\'s /proc/kallsyms, many addresses in one pass', () => {
    const lines = readFileSync('/proc/kallsyms', 'utf8').split('\n');
    const pick = (fn: string) => BigInt(`0x${lines.find(l => l.endsWith(` T ${fn}`))!.split(' ')[0]}`);
    const want = ['schedule', 'do_exit', 'vfs_read'].map(f => pick(f) + 4n);
    const r = resolveKernelAddresses(want);
    expect(want.map(a => formatKernelSymbol(r.symbols.get(a)!))).toEqual(['schedule+0x4', 'do_exit+0x4', 'vfs_read+0x4']);
  });
});
