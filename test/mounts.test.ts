// bpffs and tracefs are not mounted on a fresh machine: attach mounts them (src/sys/mounts.ts). Tested
// in a private mount namespace whose copies of both are unmounted first; the host's stay as they are.
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Attach, GatedChild, cli, testPinDir, waitFor, workload } from './helpers.js';

/**
 * Runs "$@" in a new mount namespace (unshare -m, private propagation: nothing done there reaches
 * the host) without bpffs and tracefs. Refuses to unmount anything unless the namespace is new.
 */
const WITHOUT_MOUNTS = ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `
  set -e
  [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/$PPID/ns/mnt)" ] || { echo 'not in a new mount namespace' >&2; exit 99; }
  while mountpoint -q /sys/fs/bpf; do umount /sys/fs/bpf; done
  while mountpoint -q /sys/kernel/tracing; do umount /sys/kernel/tracing; done
  echo "mounted before attach: $(grep -cE ' (/sys/fs/bpf|/sys/kernel/tracing) ' /proc/self/mountinfo)" >&2
  exec "$@"`, 'sh'];

/** fstype by mount point, as a process sees its mounts. */
function mountsOf(pid: number | 'self'): Map<string, string> {
  return new Map(readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').filter(Boolean).map(l => {
    const [pre, post] = l.split(' - ');
    return [pre.split(' ')[4], post.split(' ')[0]];
  }));
}

describe('attach without bpffs and tracefs', () => {
  it('mounts both, pins into its bpffs, and attaches classic tracepoints through its tracefs', async () => {
    const hostBefore = mountsOf('self');
    expect(hostBefore.get('/sys/fs/bpf')).toBe('bpf');
    const pinDir = testPinDir();
    const a = await Attach.start(['-k', '-l', '--json'], pinDir, WITHOUT_MOUNTS);
    try {
      expect(a.stderr).toContain('mounted before attach: 0');
      const pid = a.proc.pid!; // unshare and sh exec: the attach itself
      const seen = mountsOf(pid);
      expect(seen.get('/sys/fs/bpf')).toBe('bpf');
      expect(seen.get('/sys/kernel/tracing')).toBe('tracefs');
      // its pins are in the bpffs it mounted, which the host does not see
      expect(existsSync(`/proc/${pid}/root${pinDir}/progs/keytime_exec`)).toBe(true);
      expect(existsSync(pinDir)).toBe(false);

      const child = new GatedChild(['sh', '-c', 'exit 3']);
      const act = await a.ctl(['-a', '-P', String(child.pid), '-k', '0', '-l']);
      expect(act.code, act.stderr).toBe(0);
      // the futex syscalls' own tracepoints: libbpf finds their ids in tracefs
      expect(act.stdout).toMatch(/attached: .*\bfutex_enter\b/);
      child.open();
      await child.exited;
      await waitFor(() => a.records().find(r => r.type === 'exit' && r.pid === child.pid), 'exit record');
      expect(a.records().find(r => r.type === 'exec' && r.pid === child.pid)).toMatchObject({ argv: ['sh', '-c', 'exit 3'] });
      expect((await a.ctl(['-f'])).code).toBe(0);
      expect(await a.exited).toEqual({ code: 0, signal: null });
    } finally {
      await a.cleanup();
    }
    // the host's mounts are as they were
    const hostAfter = mountsOf('self');
    expect(hostAfter.get('/sys/fs/bpf')).toBe('bpf');
    expect(hostAfter.get('/sys/kernel/tracing')).toBe(hostBefore.get('/sys/kernel/tracing'));
  });
});

describe('a target in a mount namespace of its own', () => {
  it('symbolizes its stacks to main through /proc/PID/root, with its executable and libc only it sees, after it has exited', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'procimage-ns-'));
    const libc = realpathSync('/lib/x86_64-linux-gnu/libc.so.6');
    try {
      // a tmpfs over dir in its namespace only: the host's dir stays empty; its libc path names the copy
      const script = `set -e; mount -t tmpfs none ${dir}; cp ${workload('runsleep')} ${dir}/ns-runsleep; cp ${libc} ${dir}/libc.so.6; ` +
        `mount --bind ${dir}/libc.so.6 ${libc}; exec ${dir}/ns-runsleep 3 20`;
      const r = await cli(['trace', '-k', '0', '--json', '--', 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(`${dir}/ns-runsleep`), 'the file is in the namespace only').toBe(false);
      const recs = r.stdout.trim().split('\n').map(l => JSON.parse(l)) as Array<Record<string, unknown>>;
      const stacks = recs.filter(x => x.type === 'offcpu' && x.comm === 'ns-runsleep').map(x => (x.ustack as string[]) ?? []);
      const sleeping = stacks.find(s => s.some(f => f.startsWith('__nanosleep')));
      expect(sleeping, JSON.stringify(stacks)).toBeDefined();
      expect(sleeping!.some(f => /^main\+0x[0-9a-f]+ \(ns-runsleep\)/.test(f)), sleeping!.join(' < ')).toBe(true);
      expect(sleeping!.some(f => /^__nanosleep\+0x[0-9a-f]+ \(libc\.so\.6\)/.test(f))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
