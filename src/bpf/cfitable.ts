// Unwind tables of ELF files for the kernel's unwinder (native/cfitable.c, bpf/unwind.bpf.h).
import { helper } from './ffi.js';

/** One call of pi_cfi_table on libuv's pool: a large program's table takes a few hundred ms. */
function cfiTableCall(path: string, rows: Buffer, cap: number): Promise<number> {
  return new Promise((resolve, reject) => {
    helper().cfi_table.async(path, rows, cap, (err: unknown, n: number) => (err ? reject(err) : resolve(n)));
  });
}

/**
 * The rows of the file at path (rowBytes each, sorted by pc, as the file numbers addresses), made
 * off the event loop (blocking: on it, done when the promise is made); undefined if it has no usable .eh_frame (not x86_64, no .eh_frame_hdr,
 * unreadable).
 */
export async function cfiTable(path: string, rowBytes: number, blocking = false): Promise<Buffer | undefined> {
  let cap = 1 << 14;
  for (;;) {
    const rows = Buffer.alloc(cap * rowBytes);
    const n = blocking ? helper().cfi_table(path, rows, cap) as number : await cfiTableCall(path, rows, cap);
    if (n < 0) return undefined;
    if (n <= cap) return rows.subarray(0, n * rowBytes);
    cap = n;
  }
}

/** A PT_LOAD segment of an ELF file: where its bytes are in the file, and what addresses it gives them. */
export interface LoadSegment { offset: number; vaddr: number; filesz: number }

/** The PT_LOAD segments of the ELF file at path, or undefined if it is not one. */
export function elfLoads(path: string): LoadSegment[] | undefined {
  const out = new BigUint64Array(3 * 16);
  const n = helper().elf_loads(path, out, 16) as number;
  if (n < 0) return undefined;
  return Array.from({ length: n }, (_, i) => ({ offset: Number(out[3 * i]), vaddr: Number(out[3 * i + 1]), filesz: Number(out[3 * i + 2]) }));
}
