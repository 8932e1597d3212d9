// The block-style YAML of configuration files (Grafana provisioning, Prometheus configs), parsed for
// the tests: mappings, sequences, plain, quoted and flow-sequence scalars, comments. Anything else
// (anchors, block scalars, flow mappings, tabs, a duplicate key) throws with its line: a file that
// leans on it should be read by a real YAML parser, not passed by this one.
export type Yaml = string | number | boolean | null | Yaml[] | { [k: string]: Yaml };

interface Line { no: number; indent: number; text: string }

export function parseYaml(src: string): Yaml {
  const lines: Line[] = [];
  src.split('\n').forEach((raw, i) => {
    if (/^\s*\t/.test(raw)) throw new Error(`line ${i + 1}: a tab in the indentation`);
    const text = stripComment(raw).trimEnd();
    if (text.trim()) lines.push({ no: i + 1, indent: text.length - text.trimStart().length, text: text.trim() });
  });
  if (!lines.length) return null;
  const p = { lines, i: 0 };
  const v = block(p, lines[0].indent);
  if (p.i < lines.length) throw new Error(`line ${lines[p.i].no}: unexpected indentation`);
  return v;
}

function stripComment(s: string): string {
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) { if (c === quote) quote = ''; continue; }
    if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]))) return s.slice(0, i);
  }
  return s;
}

type P = { lines: Line[]; i: number };

function block(p: P, indent: number): Yaml {
  return p.lines[p.i].text.startsWith('- ') || p.lines[p.i].text === '-' ? sequence(p, indent) : mapping(p, indent);
}

function sequence(p: P, indent: number): Yaml[] {
  const out: Yaml[] = [];
  while (p.i < p.lines.length && p.lines[p.i].indent === indent && /^-( |$)/.test(p.lines[p.i].text)) {
    const l = p.lines[p.i];
    const rest = l.text.slice(1).trimStart();
    if (!rest) {
      p.i++;
      out.push(nested(p, indent, l));
    } else if (keyOf(rest)) {
      // "- key: value": a mapping whose keys line up with the first one's
      const col = indent + (l.text.length - rest.length);
      p.lines[p.i] = { no: l.no, indent: col, text: rest };
      out.push(mapping(p, col));
    } else {
      p.i++;
      out.push(scalar(rest, l.no));
    }
  }
  return out;
}

function mapping(p: P, indent: number): { [k: string]: Yaml } {
  const out: { [k: string]: Yaml } = {};
  while (p.i < p.lines.length && p.lines[p.i].indent === indent) {
    const l = p.lines[p.i];
    const kv = keyOf(l.text);
    if (!kv) throw new Error(`line ${l.no}: expected "key: value", got ${l.text}`);
    if (Object.hasOwn(out, kv.key)) throw new Error(`line ${l.no}: duplicate key ${kv.key}`);
    p.i++;
    out[kv.key] = kv.value ? scalar(kv.value, l.no) : nested(p, indent, l, true);
  }
  if (p.i < p.lines.length && p.lines[p.i].indent > indent) throw new Error(`line ${p.lines[p.i].no}: unexpected indentation`);
  return out;
}

/** What follows "key:" or "-" alone on its line: a deeper block (or, after a key, a sequence at its indentation). */
function nested(p: P, indent: number, l: Line, afterKey = false): Yaml {
  const next = p.lines[p.i];
  if (next && (next.indent > indent || (afterKey && next.indent === indent && /^-( |$)/.test(next.text)))) return block(p, next.indent);
  if (afterKey) return null;
  throw new Error(`line ${l.no}: an empty item`);
}

function keyOf(s: string): { key: string; value: string } | undefined {
  const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"#:[\]{},&*!|>-][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s+(.*))?$/.exec(s);
  if (!m) return undefined;
  const k = m[1];
  return { key: k.startsWith('"') || k.startsWith("'") ? String(scalar(k, 0)) : k, value: m[2] ?? '' };
}

function scalar(s: string, no: number): Yaml {
  if (/^[&*!|>{%@`]/.test(s)) throw new Error(`line ${no}: unsupported YAML: ${s}`);
  if (s.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(s)) throw new Error(`line ${no}: bad quoted string ${s}`);
    return s.slice(1, -1).replaceAll("''", "'");
  }
  if (s.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(s)) throw new Error(`line ${no}: bad quoted string ${s}`);
    return JSON.parse(s) as string;
  }
  if (s.startsWith('[')) {
    if (!s.endsWith(']') || /[[\]{}]/.test(s.slice(1, -1).replace(/'[^']*'|"[^"]*"/g, ''))) throw new Error(`line ${no}: unsupported flow sequence ${s}`);
    const body = s.slice(1, -1).trim();
    return body ? (body.match(/'(?:[^']|'')*'|"(?:[^"\\]|\\.)*"|[^,]+/g) ?? []).map(x => x.trim()).filter(x => x !== ',').map(x => scalar(x, no)) : [];
  }
  if (/^(true|false)$/.test(s)) return s === 'true';
  if (/^(null|~)$/.test(s)) return null;
  if (/^[-+]?\d+(\.\d+)?$/.test(s)) return Number(s);
  if (/: |\s#/.test(s)) throw new Error(`line ${no}: unsupported plain scalar ${s}`);
  return s;
}
