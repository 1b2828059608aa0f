// Summarises what `npm run bench:flows -- --profile DIR` wrote: for each .cpuprofile, the share of
// samples per function (self time) and per file (self time, bundled sources by their original
// folder when the bundle has no source map: the function names tell), and for each
// .heapsnapshot, retained-by-type totals (self sizes by node type and constructor name).
//   node bench/flows/profile-summary.mjs DIR [TOP]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, topArg] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: node bench/flows/profile-summary.mjs DIR [TOP]\n');
  process.exit(2);
}
const TOP = Number(topArg ?? 25);
const pct = (n, total) => `${((100 * n) / total).toFixed(1).padStart(5)} %`;

function cpu(file) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const counts = new Map();
  for (const s of prof.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  let total = 0;
  for (const [id, c] of counts) {
    const n = byId.get(id);
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url ? f.url.replace(/^.*\//, '') + ':' + (f.lineNumber + 1) : ''}`;
    self.set(key, (self.get(key) ?? 0) + c);
    total += c;
  }
  const ms = (prof.endTime - prof.startTime) / 1000;
  process.stdout.write(`\n== ${file}: ${total} samples over ${(ms / 1000).toFixed(1)} s\n`);
  const idle = self.get('(idle) ') ?? 0;
  process.stdout.write(`busy: ${pct(total - idle, total)} of the wall time\n`);
  for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) process.stdout.write(`${pct(c, total)}  ${k}\n`);
}

function heap(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const m = snap.snapshot.meta;
  const F = m.node_fields.length;
  const iType = m.node_fields.indexOf('type');
  const iName = m.node_fields.indexOf('name');
  const iSize = m.node_fields.indexOf('self_size');
  const types = m.node_types[0];
  const by = new Map();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += F) {
    const type = types[snap.nodes[i + iType]];
    const name = type === 'object' || type === 'native' ? snap.strings[snap.nodes[i + iName]] : `(${type})`;
    const size = snap.nodes[i + iSize];
    const e = by.get(name) ?? { size: 0, count: 0 };
    e.size += size;
    e.count++;
    by.set(name, e);
    total += size;
  }
  process.stdout.write(`\n== ${file}: ${(total / 1048576).toFixed(1)} MB of live heap (self sizes)\n`);
  for (const [k, e] of [...by].sort((a, b) => b[1].size - a[1].size).slice(0, TOP)) process.stdout.write(`${(e.size / 1048576).toFixed(2).padStart(7)} MB ${String(e.count).padStart(8)}×  ${k}\n`);
}

for (const f of readdirSync(dir).sort()) {
  if (f.endsWith('.cpuprofile')) cpu(join(dir, f));
  else if (f.endsWith('.heapsnapshot')) heap(join(dir, f));
}
