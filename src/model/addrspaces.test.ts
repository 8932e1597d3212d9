// Address spaces: processes with the same mappings share one unwinder space (a fork storm's children
// map what their parent maps), and a space is dropped when the last process holding it goes.
import { describe, expect, it } from 'vitest';
import type { SidebandRecord, Unwinder } from '../bpf/index.js';
import { Clock } from '../collect/clock.js';
import { AddressSpaces } from './addrspaces.js';

/** An unwinder that only keeps the texts it is given, by id. */
function fakeUnwinder() {
  const spaces = new Map<number, string>();
  const calls = { set: 0, drop: 0 };
  const u = {
    setSpace(id: number, maps: string) { calls.set++; spaces.set(id, maps); return true; },
    dropSpace(id: number) { calls.drop++; spaces.delete(id); },
  } as unknown as Unwinder;
  return { u, spaces, calls };
}

const clock = new Clock(0n);
let t = 0n;
const map = (pid: number, addr: number, path: string, ino: number): SidebandRecord =>
  ({ kind: 'map', pid, tid: pid, time: ++t, addr, size: 0x1000, pgoff: 0, ino, dev: 0x800001, prot: 5, path });
const fork = (pid: number, ppid: number): SidebandRecord => ({ kind: 'fork', pid, ppid, time: ++t });
const exec = (pid: number): SidebandRecord => ({ kind: 'exec', pid, tid: pid, time: ++t, comm: 'x' });

// pids no process has here (near pid_max): what the fake side-band says is all there is of them
const P = 4_100_000;

describe('address spaces', () => {
  it('are shared by processes with the same maps, and dropped with the last of them', () => {
    const { u, spaces, calls } = fakeUnwinder();
    const a = new AddressSpaces(u, clock);
    a.add([map(P, 0x400000, '/usr/bin/parent', 1), map(P, 0x7f0000000000, '/lib/libc.so.6', 2)]);
    for (let i = 0; i < 50; i++) a.add([fork(P + 200 + i, P)]);
    a.advance(Number(t));
    const parent = a.spaceFor(P, 0)!;
    const children = Array.from({ length: 50 }, (_, i) => a.spaceFor(P + 200 + i, 0)!);
    expect(children.every(c => c.id === parent.id)).toBe(true);
    expect(calls.set).toBe(1);
    expect(spaces.size).toBe(1);

    // a child maps something more: its own space; the others keep theirs
    a.add([map(P + 200, 0x500000, '/usr/lib/plugin.so', 3)]);
    a.advance(Number(t));
    const moved = a.spaceFor(P + 200, 0)!;
    expect(moved.id).not.toBe(parent.id);
    expect(spaces.get(moved.id)).toContain('/usr/lib/plugin.so');
    expect(spaces.get(parent.id)).not.toContain('/usr/lib/plugin.so');
    expect(a.spaceFor(P + 201, 0)!.id).toBe(parent.id);

    // every holder of the first space execs something else: it is dropped, the other stays
    for (const pid of [P, ...Array.from({ length: 49 }, (_, i) => P + 201 + i)]) {
      a.add([exec(pid), map(pid, 0x400000, '/usr/bin/other', 4)]);
    }
    a.advance(Number(t));
    for (const pid of [P, P + 201, P + 249]) expect(a.spaceFor(pid, 0)!.id).not.toBe(parent.id);
    expect(spaces.has(parent.id)).toBe(false);
    expect(spaces.has(moved.id)).toBe(true);
    // an evicted space is defined again from its own text
    spaces.clear();
    expect(a.redefine(moved.id)).toBe(true);
    expect(spaces.get(moved.id)).toContain('/usr/lib/plugin.so');
  });
});
