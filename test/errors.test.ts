// What the kernel refuses reaches the user as one line and a non-zero exit: a program the verifier
// rejects, a feature the kernel lacks. Each in an installation of this build whose BPF object is
// replaced by a test fixture (test/bpf/) that the kernel refuses in that way.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, cli, testPinDir, installationWith } from './helpers.js';

const fixture = (name: string) => join(ROOT, 'build', 'test', `${name}.bpf.o`);
const roots: string[] = [];
afterAll(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

function procimageWith(objects: Record<string, string>): string {
  const root = installationWith(objects);
  roots.push(root);
  return join(root, 'bin', 'procimage');
}

/** The single line of stderr, checked to be one "procimage: ..." line and no stack. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^\s+at |internal error|node:internal/m);
  return lines[0];
}

describe('a program the verifier rejects', () => {
  const bin = procimageWith({ 'schedule.bpf.o': fixture('refused_schedule') });

  it.each([[['attach', '-S']], [['trace', '-S', '--', 'true']]])('%j: one line naming the program and the reason', async args => {
    const pinDir = testPinDir();
    const r = await cli(args[0] === 'attach' ? [...args, '--pin-dir', pinDir] : args, { bin });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(
      /^procimage: verifier rejected program schedule_wakeup: .*out of bounds.* \(procimage -v COMMAND \.\.\. prints the verifier log\)$/);
    expect(r.stdout).toBe('');
    expect(existsSync(pinDir)).toBe(false); // nothing left pinned
  });

  it('--verbose adds the verifier log', async () => {
    const r = await cli(['-v', 'attach', '-S', '--pin-dir', testPinDir()], { bin });
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toMatch(/^procimage: verifier rejected program schedule_wakeup: .*out of bounds[^(]*$/);
    expect(r.stderr).toMatch(/^processed \d+ insns/m);
  });
});

describe('a feature the kernel lacks', () => {
  const bin = procimageWith({ 'probes.bpf.o': fixture('probes_no_tp_btf') });

  it.each([[['attach', '-k']], [['trace', '-k', '0', '--', 'true']]])('%j: one line naming the feature', async args => {
    const pinDir = testPinDir();
    const r = await cli(args[0] === 'attach' ? [...args, '--pin-dir', pinDir] : args, { bin });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(new RegExp('^procimage: this kernel does not support BTF tracepoints \\(tp_btf\\): load \\S+/probes\\.bpf\\.o: ' +
      "prog 'probe_tp_btf': failed to find kernel BTF type ID of 'procimage_no_such_tracepoint': -3$"));
    expect(r.stdout).toBe('');
    expect(existsSync(pinDir)).toBe(false);
  });
});
