// Truth tables: which pod may reach which, per port and protocol, in a text format a reviewer
// reads at a glance (the format is described in test/netpol/README.md):
//
//   == policy.yaml ==
//   TCP   x/a x/b x/c  y/a y/b y/c  z/a z/b z/c
//   x/a    .   X   X    .   .   .    .   .   .
//   …
//
// Rows are sources, columns destinations; "." allowed, "X" denied. The first word of a table's
// header says which ports it covers: all, TCP, UDP, 80, 81, 80/TCP, … or a comma list of these.
// Every step must cover every (port, protocol) exactly once. Pure: no I/O.

export type Proto = 'TCP' | 'UDP';

export interface PortProto {
  port: number;
  protocol: Proto;
}

export interface Cell extends PortProto {
  from: string;
  to: string;
}

/** Cell key → allowed. */
export type Matrix = Map<string, boolean>;

export interface ExpectedStep {
  /** The step file this table follows, e.g. `policy.yaml`. */
  step: string;
  matrix: Matrix;
}

export const cellKey = (c: Cell): string => `${c.from} ${c.to} ${c.port}/${c.protocol}`;
export const ppText = (p: PortProto): string => `${p.port}/${p.protocol}`;

export function allCells(pods: readonly string[], ports: readonly PortProto[]): Cell[] {
  return ports.flatMap((p) => pods.flatMap((from) => pods.map((to) => ({ from, to, ...p }))));
}

/** The ports a header word names (`all`, `TCP`, `80`, `80/UDP`, comma lists), or undefined. */
export function parsePortSpec(word: string, ports: readonly PortProto[]): PortProto[] | undefined {
  const out: PortProto[] = [];
  for (const part of word.split(',')) {
    const m = /^(?:(all)|(tcp|udp)|(\d+)(?:\/(tcp|udp))?)$/i.exec(part);
    if (!m) return undefined;
    const proto = (m[2] ?? m[4])?.toUpperCase();
    const port = m[3] === undefined ? undefined : Number(m[3]);
    for (const p of ports) {
      if (m[1] || ((proto === undefined || p.protocol === proto) && (port === undefined || p.port === port))) out.push(p);
    }
  }
  return out;
}

class ParseError extends Error {
  constructor(source: string, line: number, message: string) {
    super(`${source}:${line}: ${message}`);
  }
}

interface StepBuilder {
  step: string;
  line: number;
  matrix: Matrix;
  covered: Map<string, number>;
}

/**
 * Parses an expectation file. `pods` are the columns and rows every table must have (any order),
 * `ports` what every step must cover.
 */
export function parseExpectations(text: string, source: string, pods: readonly string[], ports: readonly PortProto[]): ExpectedStep[] {
  const steps: StepBuilder[] = [];
  let table: { ports: PortProto[]; cols: string[]; rows: Set<string>; line: number } | undefined;
  const closeTable = () => {
    if (table && table.rows.size !== pods.length) {
      const missing = pods.filter((p) => !table!.rows.has(p));
      throw new ParseError(source, table.line, `table has no row for ${missing.join(', ')}`);
    }
    table = undefined;
  };
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return closeTable();
    const step = /^==\s*(\S+)\s*==$/.exec(line);
    if (step) {
      closeTable();
      steps.push({ step: step[1]!, line: n, matrix: new Map(), covered: new Map() });
      return;
    }
    const cur = steps.at(-1);
    if (!cur) throw new ParseError(source, n, 'a table must follow a step line such as "== policy.yaml =="');
    const words = line.split(/\s+/);
    const spec = parsePortSpec(words[0]!, ports);
    if (spec) {
      closeTable();
      const cols = words.slice(1);
      const bad = cols.filter((c) => !pods.includes(c));
      if (bad.length) throw new ParseError(source, n, `unknown pod(s) in header: ${bad.join(', ')} (pods: ${pods.join(' ')})`);
      if (new Set(cols).size !== pods.length || cols.length !== pods.length) throw new ParseError(source, n, `the header must name every pod once: ${pods.join(' ')}`);
      for (const p of spec) {
        const k = ppText(p);
        if (cur.covered.has(k)) throw new ParseError(source, n, `${k} is already covered by the table at line ${cur.covered.get(k)}`);
        cur.covered.set(k, n);
      }
      table = { ports: spec, cols, rows: new Set(), line: n };
      return;
    }
    if (!table) throw new ParseError(source, n, `expected a table header (first word all, TCP, UDP, 80, 81/UDP, …), got "${words[0]}"`);
    const [from, ...cells] = words;
    if (!pods.includes(from!)) throw new ParseError(source, n, `unknown source pod "${from}"`);
    if (table.rows.has(from!)) throw new ParseError(source, n, `second row for ${from}`);
    if (cells.length !== table.cols.length) throw new ParseError(source, n, `row ${from} has ${cells.length} cells, the header ${table.cols.length}`);
    table.rows.add(from!);
    cells.forEach((c, j) => {
      if (c !== '.' && c !== 'X') throw new ParseError(source, n, `cell "${c}" (to ${table!.cols[j]}) must be "." (allowed) or "X" (denied)`);
      for (const p of table!.ports) cur.matrix.set(cellKey({ from: from!, to: table!.cols[j]!, ...p }), c === '.');
    });
  });
  closeTable();
  for (const s of steps) {
    const missing = ports.filter((p) => !s.covered.has(ppText(p)));
    if (missing.length) throw new ParseError(source, s.line, `step ${s.step} has no table for ${missing.map(ppText).join(', ')}`);
  }
  return steps.map(({ step, matrix }) => ({ step, matrix }));
}

const sameSlice = (m: Matrix, pods: readonly string[], a: PortProto, b: PortProto): boolean =>
  pods.every((f) => pods.every((t) => m.get(cellKey({ from: f, to: t, ...a })) === m.get(cellKey({ from: f, to: t, ...b }))));

/** The shortest header word naming exactly `cls`: all, TCP, 80, 81/UDP or a comma list. */
function specFor(cls: readonly PortProto[], ports: readonly PortProto[]): string {
  if (cls.length === ports.length) return 'all';
  let left = [...cls];
  const parts: string[] = [];
  const take = (label: string, group: PortProto[]) => {
    if (group.length && group.every((p) => left.includes(p))) {
      parts.push(label);
      left = left.filter((p) => !group.includes(p));
    }
  };
  for (const proto of ['TCP', 'UDP'] as const) take(proto, ports.filter((p) => p.protocol === proto));
  for (const port of [...new Set(ports.map((p) => p.port))]) take(String(port), ports.filter((p) => p.port === port));
  return [...parts, ...left.map(ppText)].join(',');
}

/** One table per set of ports that behave alike. */
function grouping(m: Matrix, pods: readonly string[], ports: readonly PortProto[]): { label: string; ports: PortProto[] }[] {
  const classes: PortProto[][] = [];
  for (const p of ports) {
    const c = classes.find((c) => sameSlice(m, pods, c[0]!, p));
    if (c) c.push(p);
    else classes.push([p]);
  }
  return classes.map((c) => ({ label: specFor(c, ports), ports: c }));
}

/**
 * Formats a matrix in the expectation format. With `expected`, a cell that differs shows the
 * observed value in brackets ([X] = denied but expected allowed, [.] = the reverse).
 */
export function formatMatrix(m: Matrix, pods: readonly string[], ports: readonly PortProto[], expected?: Matrix): string {
  const groups = expected ? ports.map((p) => ({ label: ppText(p), ports: [p] })) : grouping(m, pods, ports);
  const w = Math.max(8, ...pods.map((p) => p.length + 1), ...groups.map((g) => g.label.length + 2));
  const colW = Math.max(...pods.map((p) => p.length)) + 1;
  // Each cell's mark sits under the middle character of its column's pod name.
  const pad = ' '.repeat(Math.max(0, Math.floor((Math.max(...pods.map((p) => p.length)) - 1) / 2) - 1));
  const gap = (list: readonly string[], i: number) => (i > 0 && list[i]!.split('/')[0] !== list[i - 1]!.split('/')[0] ? ' ' : '');
  const cellText = (k: string) => {
    const v = m.get(k);
    const s = v === undefined ? '?' : v ? '.' : 'X';
    return (pad + (expected && expected.get(k) !== v ? `[${s}]` : ` ${s} `)).padEnd(colW);
  };
  const out: string[] = [];
  for (const g of groups) {
    if (expected && g.ports.every((p) => pods.every((f) => pods.every((t) => expected.get(cellKey({ from: f, to: t, ...p })) === m.get(cellKey({ from: f, to: t, ...p })))))) continue;
    const head = pods.map((p, i) => gap(pods, i) + p.padEnd(colW)).join('');
    out.push(`${g.label.padEnd(w)}${head}`.trimEnd());
    for (const f of pods) {
      const cells = pods.map((t, i) => gap(pods, i) + cellText(cellKey({ from: f, to: t, ...g.ports[0]! }))).join('');
      out.push(`${f.padEnd(w)}${cells}`.trimEnd());
    }
    out.push('');
  }
  return out.join('\n');
}

/** Cells where `observed` differs from `expected` (or is missing). */
export function mismatches(expected: Matrix, observed: Matrix): { key: string; expected: boolean; observed: boolean | undefined }[] {
  const out: { key: string; expected: boolean; observed: boolean | undefined }[] = [];
  for (const [key, want] of expected) {
    const got = observed.get(key);
    if (got !== want) out.push({ key, expected: want, observed: got });
  }
  return out;
}

export function parseCellKey(key: string): Cell {
  const [from, to, pp] = key.split(' ');
  const [port, protocol] = pp!.split('/');
  return { from: from!, to: to!, port: Number(port), protocol: protocol as Proto };
}
