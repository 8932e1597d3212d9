import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../sys/elf.js';
import { paths } from '../sys/paths.js';
import { readMaps } from '../sys/procmaps.js';
import { SystemSymbolizer } from './symbolizer.js';

describe('SystemSymbolizer: user addresses', () => {
  it('names a process\'s function from its mapped file, and still does after the process is gone', async () => {
    const p = spawn(paths.workload('syscalls'), ['0', '5000'], { stdio: 'ignore' });
    try {
      // exec'd: its maps hold the workload (polled: a fixed pause is only a hope on a loaded machine)
      for (const end = Date.now() + 10_000; !readMaps(p.pid!)?.some(x => x.path === paths.workload('syscalls'));) {
        if (Date.now() > end) throw new Error('the workload did not exec');
        await new Promise(r => setTimeout(r, 10));
      }
      const maps = readMaps(p.pid!)!;
      const exe = ElfFile.open(paths.workload('syscalls'));
      const main = exe.function('main')!;
      const m = maps.find(x => x.path === paths.workload('syscalls') && x.offset <= main.fileOffset && x.perms.includes('x'))!;
      const addr = m.start + BigInt(main.fileOffset - m.offset) + 7n;
      const s = new SystemSymbolizer();
      // with its location: the file's number and main's offset in the file; outside any file, the address
      const off = (main.fileOffset + 7).toString(16);
      expect(s.userStack(p.pid!, [addr, 0x10n])).toEqual({ frames: ['main+0x7 (syscalls)', '0x10'], locs: [`1+0x${off}`, '0x10'] });
      p.kill('SIGKILL');
      await new Promise(r => p.once('exit', r));
      expect(s.userStack(p.pid!, [addr + 1n]).frames).toEqual(['main+0x8 (syscalls)']);
      // mappings handed over while it lived serve a fresh symbolizer too
      const t = new SystemSymbolizer();
      t.addMaps(p.pid!, maps);
      expect(t.userStack(p.pid!, [addr]).frames).toEqual(['main+0x7 (syscalls)']);
    } finally {
      p.kill('SIGKILL');
    }
  });
});
