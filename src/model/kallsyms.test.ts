import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Kallsyms, formatKernelSymbol } from './kallsyms.js';

const TEXT = `ffffffff81000000 T _stext
ffffffff81000100 T do_thing
ffffffff81000200 t helper
ffffffff82000000 D __start_rodata
ffffffffc0001000 t mod_fn\t[mymod]
`;

describe('Kallsyms', () => {
  it('names a text address by the function it is in, with module and offset', () => {
    const k = new Kallsyms(TEXT);
    expect(formatKernelSymbol(k.lookup(0xffffffff81000105n)!)).toBe('do_thing+0x5');
    expect(formatKernelSymbol(k.lookup(0xffffffff81000200n)!)).toBe('helper+0x0');
    expect(formatKernelSymbol(k.lookup(0xffffffffc0001010n)!)).toBe('mod_fn+0x10 [mymod]');
    expect(k.lookup(0xffffffff80000000n)).toBeUndefined();
  });

  it('does not name data addresses from a few section markers (no CONFIG_KALLSYMS_ALL)', () => {
    const k = new Kallsyms(TEXT);
    expect(k.hasData).toBe(false);
    expect(k.lookupData(0xffffffff82000040n)).toBeUndefined();
  });

  it('names a static lock when kallsyms lists data symbols', () => {
    const data = Array.from({ length: 1200 }, (_, i) => `ffffffff83${(i * 16).toString(16).padStart(6, '0')} d var${i}`).join('\n');
    const k = new Kallsyms(`${TEXT}${data}\nffffffff84000000 B jiffies_lock\nffffffff84000100 B next_var\n`);
    expect(k.hasData).toBe(true);
    expect(formatKernelSymbol(k.lookupData(0xffffffff84000008n)!)).toBe('jiffies_lock+0x8');
    expect(k.lookupData(0xffff888100000000n)).toBeUndefined(); // slab memory: no symbol
  });

  it('reads this kernel\'s /proc/kallsyms', () => {
    const k = Kallsyms.load();
    const line = readFileSync('/proc/kallsyms', 'utf8').split('\n').find(l => / T schedule$/.test(l))!;
    const addr = BigInt(`0x${line.split(' ')[0]}`);
    expect(formatKernelSymbol(k.lookup(addr + 4n)!)).toBe('schedule+0x4');
  });

  it('hides nothing behind zeroed addresses (kptr_restrict): there is just nothing to look up', () => {
    expect(new Kallsyms('0000000000000000 T schedule\n').size).toBe(0);
  });
});
