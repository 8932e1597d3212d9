// Where resource's per-task figures come from: a BPF task iterator (bpf/resource.bpf.c), the
// default, or /proc (procsampler.ts), for kernels that cannot run the iterator — or when asked, to
// compare the two (--resource-source). Kept free of libbpf so that the CLI can name the choices
// without loading it.

/** What --resource-source takes: auto (the iterator where the kernel has it, else /proc), iter, proc. */
export const RESOURCE_SOURCES = ['auto', 'iter', 'proc'] as const;
export type ResourceSourceOption = (typeof RESOURCE_SOURCES)[number];
export type ResourceSource = Exclude<ResourceSourceOption, 'auto'>;

/** What the iterator program needs of the kernel (names of src/bpf/features.ts). */
export const ITER_FEATURES = ['iter_task', 'bpf_loop'] as const;
export type IterFeature = (typeof ITER_FEATURES)[number];

export interface SourceChoice {
  source: ResourceSource;
  /** Why /proc, in a few words for the activation's note; undefined for the iterator. */
  why?: string;
}

/**
 * The source for what was asked, given what the kernel has (`has`: the cached feature probe; `name`:
 * a feature in words). Asking for `iter` on a kernel without it is the caller's error to report.
 */
export function pickSource(asked: ResourceSourceOption, has: (f: IterFeature) => boolean,
  name: (f: IterFeature) => string = f => f): SourceChoice {
  if (asked === 'proc') return { source: 'proc', why: '--resource-source proc' };
  if (asked === 'iter') return { source: 'iter' };
  const missing = ITER_FEATURES.filter(f => !has(f));
  if (missing.length === 0) return { source: 'iter' };
  return { source: 'proc', why: `this kernel has no ${missing.map(name).join(' and no ')}` };
}
