// koffi declarations of libbpf.so.1 (1.1 ABI) and of procimage's helper library. Only the classes of
// this folder call these; everything above them sees typed objects, never a pointer.
import koffi from 'koffi';
import { paths } from '../sys/paths.js';

export type Ptr = bigint; // koffi 3 represents pointers as BigInt

const libbpf = koffi.load('libbpf.so.1');

koffi.opaque('bpf_object');
koffi.opaque('bpf_program');
koffi.opaque('bpf_map');
koffi.opaque('bpf_link');
koffi.opaque('btf');
koffi.opaque('pi_drainer');
koffi.opaque('pi_unwinder');
koffi.opaque('pi_sideband');

// struct bpf_object_open_opts (libbpf 1.1): 80 bytes; the anonymous `__u32 :32` is `_stub`.
export const OpenOpts = koffi.struct('bpf_object_open_opts', {
  sz: 'size_t',
  object_name: 'const char *',
  relaxed_maps: 'bool',
  pin_root_path: 'const char *',
  _stub: 'uint32_t',
  kconfig: 'const char *',
  btf_custom_path: 'const char *',
  kernel_log_buf: 'void *',
  kernel_log_size: 'size_t',
  kernel_log_level: 'uint32_t',
});

// struct bpf_uprobe_opts (libbpf 1.1): 40 bytes.
export const UprobeOpts = koffi.struct('bpf_uprobe_opts', {
  sz: 'size_t',
  ref_ctr_offset: 'size_t',
  bpf_cookie: 'uint64_t',
  retprobe: 'bool',
  func_name: 'const char *',
});

// struct bpf_map_batch_opts: 24 bytes.
export const BatchOpts = koffi.struct('bpf_map_batch_opts', {
  sz: 'size_t',
  elem_flags: 'uint64_t',
  flags: 'uint64_t',
});

export const bpf = {
  // objects
  object_open_file: libbpf.func('bpf_object *bpf_object__open_file(const char *path, const bpf_object_open_opts *opts)'),
  object_load: libbpf.func('int bpf_object__load(bpf_object *obj)'),
  object_close: libbpf.func('void bpf_object__close(bpf_object *obj)'),
  object_name: libbpf.func('const char *bpf_object__name(const bpf_object *obj)'),
  object_btf: libbpf.func('btf *bpf_object__btf(const bpf_object *obj)'),
  object_next_program: libbpf.func('bpf_program *bpf_object__next_program(const bpf_object *obj, bpf_program *prog)'),
  object_next_map: libbpf.func('bpf_map *bpf_object__next_map(const bpf_object *obj, const bpf_map *map)'),

  // programs
  program_name: libbpf.func('const char *bpf_program__name(const bpf_program *prog)'),
  program_section_name: libbpf.func('const char *bpf_program__section_name(const bpf_program *prog)'),
  program_set_autoload: libbpf.func('int bpf_program__set_autoload(bpf_program *prog, bool autoload)'),
  program_autoload: libbpf.func('bool bpf_program__autoload(const bpf_program *prog)'),
  program_fd: libbpf.func('int bpf_program__fd(const bpf_program *prog)'),
  program_type: libbpf.func('int bpf_program__type(const bpf_program *prog)'),
  program_set_expected_attach_type: libbpf.func('int bpf_program__set_expected_attach_type(bpf_program *prog, int type)'),
  program_pin: libbpf.func('int bpf_program__pin(bpf_program *prog, const char *path)'),
  program_unpin: libbpf.func('int bpf_program__unpin(bpf_program *prog, const char *path)'),
  attach: libbpf.func('bpf_link *bpf_program__attach(const bpf_program *prog)'),
  attach_trace: libbpf.func('bpf_link *bpf_program__attach_trace(const bpf_program *prog)'),
  attach_raw_tracepoint: libbpf.func('bpf_link *bpf_program__attach_raw_tracepoint(const bpf_program *prog, const char *name)'),
  attach_tracepoint: libbpf.func('bpf_link *bpf_program__attach_tracepoint(const bpf_program *prog, const char *category, const char *name)'),
  attach_uprobe_opts: libbpf.func('bpf_link *bpf_program__attach_uprobe_opts(const bpf_program *prog, int pid, const char *binary_path, size_t func_offset, const bpf_uprobe_opts *opts)'),
  attach_perf_event: libbpf.func('bpf_link *bpf_program__attach_perf_event(const bpf_program *prog, int pfd)'),
  attach_iter: libbpf.func('bpf_link *bpf_program__attach_iter(const bpf_program *prog, const void *opts)'),

  // links
  link_pin: libbpf.func('int bpf_link__pin(bpf_link *link, const char *path)'),
  link_unpin: libbpf.func('int bpf_link__unpin(bpf_link *link)'),
  link_fd: libbpf.func('int bpf_link__fd(const bpf_link *link)'),
  link_destroy: libbpf.func('int bpf_link__destroy(bpf_link *link)'),

  // maps, through the object
  map_name: libbpf.func('const char *bpf_map__name(const bpf_map *map)'),
  map_fd: libbpf.func('int bpf_map__fd(const bpf_map *map)'),
  map_type: libbpf.func('int bpf_map__type(const bpf_map *map)'),
  map_key_size: libbpf.func('uint32_t bpf_map__key_size(const bpf_map *map)'),
  map_value_size: libbpf.func('uint32_t bpf_map__value_size(const bpf_map *map)'),
  map_max_entries: libbpf.func('uint32_t bpf_map__max_entries(const bpf_map *map)'),
  map_set_max_entries: libbpf.func('int bpf_map__set_max_entries(bpf_map *map, uint32_t max_entries)'),
  map_reuse_fd: libbpf.func('int bpf_map__reuse_fd(bpf_map *map, int fd)'),
  map_set_autocreate: libbpf.func('int bpf_map__set_autocreate(bpf_map *map, bool autocreate)'),
  map_initial_value: libbpf.func('void *bpf_map__initial_value(bpf_map *map, _Out_ size_t *psize)'),
  map_pin: libbpf.func('int bpf_map__pin(bpf_map *map, const char *path)'),
  map_unpin: libbpf.func('int bpf_map__unpin(bpf_map *map, const char *path)'),

  // maps and objects by fd (the syscall wrappers of bpf/bpf.h)
  map_lookup_elem: libbpf.func('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)'),
  map_update_elem: libbpf.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
  map_delete_elem: libbpf.func('int bpf_map_delete_elem(int fd, const void *key)'),
  map_get_next_key: libbpf.func('int bpf_map_get_next_key(int fd, const void *key, _Out_ void *next_key)'),
  map_lookup_batch: libbpf.func('int bpf_map_lookup_batch(int fd, void *in_batch, _Out_ void *out_batch, _Out_ void *keys, _Out_ void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
  map_lookup_and_delete_batch: libbpf.func('int bpf_map_lookup_and_delete_batch(int fd, void *in_batch, _Out_ void *out_batch, _Out_ void *keys, _Out_ void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
  map_update_batch: libbpf.func('int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
  map_delete_batch: libbpf.func('int bpf_map_delete_batch(int fd, const void *keys, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)'),
  obj_get: libbpf.func('int bpf_obj_get(const char *pathname)'),
  iter_create: libbpf.func('int bpf_iter_create(int link_fd)'),
  obj_pin: libbpf.func('int bpf_obj_pin(int fd, const char *pathname)'),
  obj_get_info_by_fd: libbpf.func('int bpf_obj_get_info_by_fd(int bpf_fd, _Out_ void *info, _Inout_ uint32_t *info_len)'),

  // BTF
  btf_find_by_name_kind: libbpf.func('int btf__find_by_name_kind(const btf *btf, const char *type_name, uint32_t kind)'),
  btf_type_by_id: libbpf.func('const void *btf__type_by_id(const btf *btf, uint32_t id)'),
  btf_name_by_offset: libbpf.func('const char *btf__name_by_offset(const btf *btf, uint32_t offset)'),
  btf_parse_elf: libbpf.func('btf *btf__parse_elf(const char *path, void *btf_ext)'),
  btf_free: libbpf.func('void btf__free(btf *btf)'),

  // feature probes and misc
  probe_prog_type: libbpf.func('int libbpf_probe_bpf_prog_type(int prog_type, const void *opts)'),
  probe_map_type: libbpf.func('int libbpf_probe_bpf_map_type(int map_type, const void *opts)'),
  probe_helper: libbpf.func('int libbpf_probe_bpf_helper(int prog_type, int helper_id, const void *opts)'),
  num_possible_cpus: libbpf.func('int libbpf_num_possible_cpus(void)'),
};

let helperLib: ReturnType<typeof koffi.load> | undefined;
let helperFns: ReturnType<typeof declareHelper> | undefined;

function declareHelper(lib: ReturnType<typeof koffi.load>) {
  return {
    drainer_new: lib.func('pi_drainer *pi_drainer_new(int map_fd, size_t max_rec)'),
    drain: lib.func('long pi_drain(pi_drainer *d, void *out, size_t cap, int timeout_ms, int wait_first)'),
    drainer_oversize: lib.func('uint64_t pi_drainer_oversize(pi_drainer *d)'),
    drainer_free: lib.func('void pi_drainer_free(pi_drainer *d)'),
    drainer_wake: lib.func('void pi_drainer_wake(pi_drainer *d)'),
    unwinder_new: lib.func('pi_unwinder *pi_unwinder_new(void)'),
    unwinder_free: lib.func('void pi_unwinder_free(pi_unwinder *u)'),
    space_set: lib.func('int pi_space_set(pi_unwinder *u, uint32_t id, const char *maps, size_t len)'),
    space_drop: lib.func('void pi_space_drop(pi_unwinder *u, uint32_t id)'),
    unwinder_forget: lib.func('void pi_unwinder_forget(pi_unwinder *u)'),
    unwinder_usage: lib.func('void pi_unwinder_usage(const pi_unwinder *u, _Out_ int32_t *out)'),
    unwind: lib.func('int pi_unwind(pi_unwinder *u, uint32_t id, uint32_t tgid, uint32_t tid, const uint64_t *regs, uint64_t base, const uint8_t *stack, size_t len, _Out_ uint64_t *pcs, int max, _Out_ int32_t *stopped)'),
    resolve: lib.func('long pi_resolve(pi_unwinder *u, uint32_t id, const uint64_t *pcs, int n, _Out_ char *out, size_t cap)'),
    symbolize_file: lib.func('long pi_symbolize_file(pi_unwinder *u, const char *path, const uint64_t *addrs, int n, int ret, _Out_ char *out, size_t cap)'),
    demangle: lib.func('long pi_demangle(const char *name, _Out_ char *out, size_t cap)'),
    cfi_table: lib.func('long pi_cfi_table(const char *path, _Out_ uint8_t *rows, long cap)'),
    elf_loads: lib.func('long pi_elf_loads(const char *path, _Out_ uint64_t *out, long max)'),
    sideband_new: lib.func('pi_sideband *pi_sideband_new(const uint32_t *tids, int ntids, int ncpus, int pages)'),
    sideband_read: lib.func('long pi_sideband_read(pi_sideband *sb, _Out_ void *out, size_t cap)'),
    sideband_lost: lib.func('uint64_t pi_sideband_lost(pi_sideband *sb)'),
    sideband_free: lib.func('void pi_sideband_free(pi_sideband *sb)'),
    link_create: lib.func('int pi_link_create(const void *attr, unsigned int size)'),
    prog_stats: lib.func('int pi_prog_stats(int fd, _Out_ uint64_t *run_time_ns, _Out_ uint64_t *run_cnt)'),
    enable_stats: lib.func('int pi_enable_stats(void)'),
    log_install: lib.func('void pi_log_install(int level)'),
    log_take: lib.func('size_t pi_log_take(_Out_ char *out, size_t cap)'),
    object_load: lib.func('int pi_object_load(bpf_object *obj, void *log, size_t cap)'),
  };
}

/** procimage's own C helper (native/*.c, built into build/libprocimage.so), loaded on first use. */
export function helper() {
  if (!helperFns) {
    helperLib = koffi.load(paths.helperLib);
    helperFns = declareHelper(helperLib);
  }
  return helperFns;
}

export const errno = (): number => koffi.errno();
export const decodeU32 = (p: Ptr, off: number): number => koffi.decode(p, off, 'uint32_t') as number;
export const decodeString = (p: Ptr): string => koffi.decode(p, 'const char *') as string;
export const encodeBytes = (p: Ptr, off: number, bytes: Uint8Array): void => {
  koffi.encode(p, off, koffi.array('uint8_t', bytes.length), Array.from(bytes));
};
export const view = (p: Ptr, len: number): ArrayBuffer => koffi.view(p, len);
export const alloc = (bytes: number): Ptr => koffi.alloc('uint8_t', bytes) as Ptr;
export const free = (p: Ptr): void => koffi.free(p);
export const isNull = (p: unknown): boolean => p === null || p === undefined || p === 0n;
