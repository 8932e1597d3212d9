// Generates src/gen/layout.ts — the offsets, sizes and enum values of every struct and enum in
// bpf/procimage.h — from the BTF of the built BPF objects, so a layout exists once (in C) and the
// TypeScript decoders can never drift from it.
//
//   tsx tools/gen-layout.ts OUT.ts HEADER.h OBJ.bpf.o...
//
// Every `struct pi_*` and `enum pi_*` declared in the header must appear in the objects' BTF (the
// header's pi_btf_anchor() makes clang emit them); where several objects carry one type, they must
// agree. Either failure stops the build with the type's name.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

interface BtfMember { name: string; type_id: number; bits_offset: number }
interface BtfType {
  id: number; kind: string; name?: string; size?: number; type_id?: number;
  members?: BtfMember[]; values?: { name: string; val: number }[];
  nr_elems?: number; encoding?: string;
}

export interface Field { off: number; size: number; type: string }
export interface StructLayout { size: number; fields: Record<string, Field> }
export interface Layouts { structs: Record<string, StructLayout>; enums: Record<string, Record<string, number>> }

function btfTypes(obj: string): Map<number, BtfType> {
  const out = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', obj], { maxBuffer: 1 << 28 });
  const types = new Map<number, BtfType>();
  for (const t of JSON.parse(out.toString()).types as BtfType[]) types.set(t.id, t);
  return types;
}

/** Size and a C-like name of a BTF type, seen through typedefs and qualifiers. */
function describe(types: Map<number, BtfType>, id: number): { size: number; type: string } {
  const t = types.get(id);
  if (!t) throw new Error(`BTF type id ${id} missing`);
  switch (t.kind) {
    case 'TYPEDEF': case 'CONST': case 'VOLATILE': case 'RESTRICT': case 'TYPE_TAG':
      return describe(types, t.type_id!);
    case 'INT': {
      const signed = t.encoding === 'SIGNED' && t.name !== 'char';
      return { size: t.size!, type: t.name === 'char' ? 'char' : `${signed ? 's' : 'u'}${t.size! * 8}` };
    }
    case 'ENUM': return { size: t.size!, type: `enum ${t.name}` };
    case 'STRUCT': case 'UNION': return { size: t.size!, type: `${t.kind.toLowerCase()} ${t.name}` };
    case 'ARRAY': {
      const elem = describe(types, t.type_id!);
      return { size: elem.size * t.nr_elems!, type: `${elem.type}[${t.nr_elems}]` };
    }
    case 'PTR': return { size: 8, type: 'pointer' };
    default: throw new Error(`unexpected BTF kind ${t.kind} in a boundary struct`);
  }
}

export function layoutsOf(obj: string, structNames: string[], enumNames: string[]): Partial<Layouts> & Layouts {
  const types = btfTypes(obj);
  const layouts: Layouts = { structs: {}, enums: {} };
  for (const t of types.values()) {
    if (t.kind === 'STRUCT' && t.name && structNames.includes(t.name)) {
      const fields: Record<string, Field> = {};
      for (const m of t.members!) {
        if (m.bits_offset % 8) throw new Error(`${t.name}.${m.name}: bit-fields cannot cross the boundary`);
        fields[m.name] = { off: m.bits_offset / 8, ...describe(types, m.type_id) };
      }
      layouts.structs[t.name] = { size: t.size!, fields };
    } else if ((t.kind === 'ENUM' || t.kind === 'ENUM64') && t.name && enumNames.includes(t.name)) {
      layouts.enums[t.name] = Object.fromEntries(t.values!.map(v => [v.name, v.val]));
    }
  }
  return layouts;
}

/** Names of the structs and enums the header defines (the boundary types). */
export function boundaryNames(header: string): { structs: string[]; enums: string[] } {
  const src = readFileSync(header, 'utf8');
  return {
    structs: [...src.matchAll(/^struct (pi_\w+) \{/gm)].map(m => m[1]),
    enums: [...src.matchAll(/^enum (pi_\w+) \{/gm)].map(m => m[1]),
  };
}

/** Merges the layouts of several objects, failing where they disagree or a type is missing. */
export function mergeLayouts(header: string, objs: string[]): Layouts {
  const names = boundaryNames(header);
  const merged: Layouts = { structs: {}, enums: {} };
  for (const obj of objs) {
    const l = layoutsOf(obj, names.structs, names.enums);
    for (const kind of ['structs', 'enums'] as const) {
      for (const [name, v] of Object.entries(l[kind])) {
        const seen = (merged[kind] as Record<string, unknown>)[name];
        if (seen && JSON.stringify(seen) !== JSON.stringify(v))
          throw new Error(`${name} differs between objects (${obj}): rebuild every object from one header`);
        (merged[kind] as Record<string, unknown>)[name] = v;
      }
    }
  }
  for (const s of names.structs) if (!merged.structs[s]) throw new Error(`struct ${s} is not in any object's BTF: add it to pi_btf_anchor in bpf/common.bpf.h`);
  for (const e of names.enums) if (!merged.enums[e]) throw new Error(`enum ${e} is not in any object's BTF: add it to pi_btf_anchor in bpf/common.bpf.h`);
  return merged;
}

export function render(l: Layouts): string {
  const lines = [
    '// GENERATED by tools/gen-layout.ts from the BTF of build/bpf/*.bpf.o (source: bpf/procimage.h).',
    '// Do not edit: change the C header and rebuild.',
    '',
  ];
  for (const [name, s] of Object.entries(l.structs)) {
    const off = Object.entries(s.fields).map(([f, v]) => `${f}: ${v.off}`).join(', ');
    const len = Object.entries(s.fields).map(([f, v]) => `${f}: ${v.size}`).join(', ');
    const typ = Object.entries(s.fields).map(([f, v]) => `${f}: '${v.type}'`).join(', ');
    lines.push(`export const ${name} = {`, `  SIZE: ${s.size},`, `  OFF: { ${off} },`, `  LEN: { ${len} },`,
      `  TYPE: { ${typ} },`, '} as const;', '');
  }
  for (const [name, e] of Object.entries(l.enums)) {
    lines.push(`export const ${name} = { ${Object.entries(e).map(([k, v]) => `${k}: ${v}`).join(', ')} } as const;`);
  }
  lines.push('');
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [out, header, ...objs] = process.argv.slice(2);
  if (!out || !header || objs.length === 0) {
    console.error('usage: gen-layout OUT.ts HEADER.h OBJ.bpf.o...');
    process.exit(2);
  }
  try {
    const text = render(mergeLayouts(header, objs));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text);
  } catch (e) {
    console.error(`gen-layout: ${(e as Error).message}`);
    process.exit(1);
  }
}
