// Just enough of BTF for the loader: where each global variable of a data section sits, so read-only
// config (`const volatile` globals in .rodata) can be set by name before load.
import { bpf, decodeU32, type Ptr } from './ffi.js';

const BTF_KIND_VAR = 14;
const BTF_KIND_DATASEC = 15;
const BTF_TYPE_SIZE = 12;   // struct btf_type { name_off, info, size/type }
const VAR_SECINFO_SIZE = 12; // struct btf_var_secinfo { type, offset, size }

export interface VarInfo { offset: number; size: number }

/** Variables of a data section (".rodata", ".bss", ...) of a BTF owned by an object, by name. */
export function datasecVars(btf: Ptr, section: string): Map<string, VarInfo> {
  const vars = new Map<string, VarInfo>();
  const id = bpf.btf_find_by_name_kind(btf, section, BTF_KIND_DATASEC) as number;
  if (id < 0) return vars;
  const t = bpf.btf_type_by_id(btf, id) as Ptr;
  const vlen = decodeU32(t, 4) & 0xffff;
  for (let i = 0; i < vlen; i++) {
    const at = BTF_TYPE_SIZE + i * VAR_SECINFO_SIZE;
    const varType = bpf.btf_type_by_id(btf, decodeU32(t, at)) as Ptr;
    if (((decodeU32(varType, 4) >>> 24) & 0x1f) !== BTF_KIND_VAR) continue;
    const name = bpf.btf_name_by_offset(btf, decodeU32(varType, 0)) as string;
    vars.set(name, { offset: decodeU32(t, at + 4), size: decodeU32(t, at + 8) });
  }
  return vars;
}
