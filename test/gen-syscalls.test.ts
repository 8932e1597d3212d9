// The syscall name table is generated from the kernel's header at build time: check the generator
// and that the generated file is current.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseErrno, parseUnistd, render } from '../tools/gen-syscalls.js';
import { ROOT } from './helpers.js';
import { errnoName } from '../src/collect/syscall-names.js';

const HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
const ERRNO = ['/usr/include/asm-generic/errno-base.h', '/usr/include/asm-generic/errno.h'];

describe('gen-syscalls', () => {
  it('reads #define __NR_name nr lines, and nothing else', () => {
    const m = parseUnistd('#ifndef X\n#define __NR_read 0\n#define __NR_write 1\n#define __NR_x32_thing (__X32 + 5)\n#define __NR_exit 60\n');
    expect([...m]).toEqual([[0, 'read'], [1, 'write'], [60, 'exit']]);
  });

  it('reads #define ENAME nr lines, keeping the first name of a number and skipping aliases', () => {
    const m = parseErrno('#define\tEPERM\t\t 1\t/* Operation not permitted */\n#define ECHILD 10\n#define EWOULDBLOCK EAGAIN\n#define EDEADLK 35\n#define EDEADLOCK 35\n');
    expect([...m]).toEqual([[1, 'EPERM'], [10, 'ECHILD'], [35, 'EDEADLK']]);
    // what Node's own map lacks, and the kernel's restart codes sys_exit sees
    expect([10, -10, 512, 516, 9999].map(errnoName)).toEqual(['ECHILD', 'ECHILD', 'ERESTARTSYS', 'ERESTART_RESTARTBLOCK', 'errno 9999']);
  });

  it('src/gen/syscalls.ts is what the headers on this machine say (not stale)', () => {
    const errnos = new Map(ERRNO.flatMap(h => [...parseErrno(readFileSync(h, 'utf8'))]));
    const fresh = render(parseUnistd(readFileSync(HEADER, 'utf8')), errnos, [HEADER, ...ERRNO]);
    expect(readFileSync(join(ROOT, 'src/gen/syscalls.ts'), 'utf8')).toBe(fresh);
  });
});
