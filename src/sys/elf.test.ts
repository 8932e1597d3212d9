import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfError, ElfFile } from './elf.js';
import { paths } from './paths.js';

const libc = readFileSync(`/proc/${process.pid}/maps`, 'utf8').match(/\/\S*\/libc\.so\.6/)![0];

/** nm's view of a file's symbols (an independent reader): name -> address. */
function nm(path: string, dynamic = false): Map<string, number> {
  const out = execFileSync('nm', [...(dynamic ? ['-D'] : []), '--defined-only', path]).toString();
  const m = new Map<string, number>();
  for (const [, addr, , name] of out.matchAll(/^([0-9a-f]+) ([tTiW]) (\S+)$/gm)) m.set(name.replace(/@.*$/, ''), parseInt(addr, 16));
  return m;
}

describe('ElfFile', () => {
  it('finds a program\'s functions, static ones too (.symtab), where nm does', () => {
    const path = paths.workload('locks');
    const elf = ElfFile.open(path);
    const oracle = nm(path);
    for (const name of ['main', 'worker', 'take', 'release']) {
      if (!oracle.has(name)) continue; // gcc may inline a static helper away
      expect(elf.function(name)?.addr, name).toBe(oracle.get(name));
    }
    const worker = elf.function('worker')!;
    expect(elf.functionAt(worker.addr + 5)).toEqual({ fn: worker, offset: 5 });
    expect(elf.functionAt(worker.addr + worker.size)?.fn.name).not.toBe('worker');
  });

  it('gives a shared library\'s lock functions, their file offsets and their public names', () => {
    const elf = ElfFile.open(libc);
    const oracle = nm(libc, true);
    const f = elf.function('pthread_mutex_lock')!;
    expect(f.addr).toBe(oracle.get('pthread_mutex_lock'));
    // two ways to the same place: section headers (fileOffset) and load segments (vaddrOf)
    expect(elf.vaddrOf(f.fileOffset)).toBe(f.addr);
    // an alias at the same address (__pthread_mutex_lock) does not hide the name people know
    expect(elf.functionAt(f.addr)?.fn.name).toBe('pthread_mutex_lock');
    expect(elf.bytesAt(elf.function('pthread_spin_lock')!.fileOffset, 3).toString('hex')).toBe('f0ff0f'); // lock decl (%rdi)
  });

  it('gives the GNU build ID readelf shows, and none for a file without one', () => {
    const readelfId = (path: string) => /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', path]).toString())?.[1];
    for (const path of [paths.workload('locks'), libc]) {
      expect(readelfId(path), path).toMatch(/^[0-9a-f]{40}$/);
      expect(ElfFile.open(path).buildId, path).toBe(readelfId(path));
    }
    expect(ElfFile.open(paths.bpfObject('keytime')).buildId).toBeNull(); // relocatable: no notes segment
  });

  it('refuses what is not an ELF file, saying so', () => {
    expect(() => ElfFile.open('/etc/hostname')).toThrow(ElfError);
    expect(() => ElfFile.open('/etc/hostname')).toThrow(/not an ELF file/);
  });
});
