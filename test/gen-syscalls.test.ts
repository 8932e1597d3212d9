// The syscall name table is generated from the kernel's header at build time: check the generator
// and that the generated file is current.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUnistd, render } from '../tools/gen-syscalls.js';
import { ROOT } from './helpers.js';

const HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';

describe('gen-syscalls', () => {
  it('reads #define __NR_name nr lines, and nothing else', () => {
    const m = parseUnistd('#ifndef X\n#define __NR_read 0\n#define __NR_write 1\n#define __NR_x32_thing (__X32 + 5)\n#define __NR_exit 60\n');
    expect([...m]).toEqual([[0, 'read'], [1, 'write'], [60, 'exit']]);
  });

  it('src/gen/syscalls.ts is what the header on this machine says (not stale)', () => {
    const fresh = render(parseUnistd(readFileSync(HEADER, 'utf8')), HEADER);
    expect(readFileSync(join(ROOT, 'src/gen/syscalls.ts'), 'utf8')).toBe(fresh);
  });
});
