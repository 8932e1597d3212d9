// BPF iterators (iter/task, ...): each read(2) of an iterator fd runs the program over the next
// objects and returns what it wrote with bpf_seq_write(). One run = one fresh fd, read to its end.
import { closeSync, readSync } from 'node:fs';
import { bpf } from './ffi.js';
import { checkInt } from './errors.js';
import type { Link } from './link.js';

const CHUNK = 64 << 10; // the kernel hands out at most its seq_file buffer (8 pages) per read

/** Runs the iterator of `link` once, over every object, and returns everything it wrote. */
export function readIter(link: Link): Buffer {
  const fd = checkInt(`create an iterator of ${link.program}`, bpf.iter_create(link.fd) as number);
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      parts.push(n === CHUNK ? buf : buf.subarray(0, n));
      total += n;
    }
  } finally {
    closeSync(fd);
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
}
