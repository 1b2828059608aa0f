// The service map's layout, pure (unit-tested without a browser): nodes side by side, their pods
// stacked by namespace inside, addresses outside the cluster in a "world" column; one edge per
// (source, destination, verdict) over the window, its width growing with the number of flows.
import type { FlowRecord } from '../../flows/record.js';

export interface MapPod {
  key: string;
  label: string;
  x: number;
  y: number;
  world?: boolean;
}

export interface MapModel {
  width: number;
  height: number;
  nodes: { name: string; x: number; y: number; w: number; h: number }[];
  pods: MapPod[];
  edges: { from: string; to: string; verdict: 'FORWARDED' | 'DROPPED'; count: number; width: number; path: string }[];
}

const COL = 260;
const ROW = 26;
const TOP = 34;

export function layoutMap(nodes: string[], pods: { pod: string; node: string }[], records: FlowRecord[], now: number, windowMs: number): MapModel {
  const since = new Date(now - windowMs).toISOString();
  const recent = records.filter((r) => r.time >= since && r.event !== 'end');
  const endKey = (e: FlowRecord['source']): string => (e.kind === 'pod' ? `${e.namespace}/${e.pod_name}` : e.ip);
  const world = [...new Set(recent.flatMap((r) => [r.source, r.destination]).filter((e) => e.kind === 'world').map((e) => e.ip))].sort();
  const columns = [...nodes.map((n) => ({ name: n, members: pods.filter((p) => p.node === n).map((p) => p.pod).sort() })), ...(world.length ? [{ name: 'world', members: world }] : [])];
  const out: MapModel = { width: Math.max(1, columns.length) * COL, height: 0, nodes: [], pods: [], edges: [] };
  const at = new Map<string, MapPod>();
  columns.forEach((c, i) => {
    const h = TOP + Math.max(1, c.members.length) * ROW + 8;
    out.nodes.push({ name: c.name, x: i * COL + 10, y: 10, w: COL - 20, h });
    out.height = Math.max(out.height, h + 20);
    c.members.forEach((m, j) => {
      const p: MapPod = { key: m, label: m, x: i * COL + 30, y: 10 + TOP + j * ROW + ROW / 2, ...(c.name === 'world' ? { world: true } : {}) };
      out.pods.push(p);
      at.set(m, p);
    });
  });
  const counts = new Map<string, { from: string; to: string; verdict: 'FORWARDED' | 'DROPPED'; count: number }>();
  for (const r of recent) {
    const from = endKey(r.source);
    const to = endKey(r.destination);
    const k = `${from}|${to}|${r.verdict}`;
    const e = counts.get(k) ?? { from, to, verdict: r.verdict, count: 0 };
    e.count++;
    counts.set(k, e);
  }
  for (const e of [...counts.values()].sort((a, b) => (a.from + a.to < b.from + b.to ? -1 : 1))) {
    const a = at.get(e.from);
    const b = at.get(e.to);
    if (!a || !b) continue;
    // A curve that bows out more for drops, so both verdicts of one pair stay visible.
    const bow = e.verdict === 'DROPPED' ? 60 : 25;
    const mx = (a.x + b.x) / 2 + (a.x === b.x ? bow * 2 : 0);
    const my = (a.y + b.y) / 2 - bow;
    out.edges.push({ ...e, width: Math.round((1 + Math.log2(1 + e.count) * 1.5) * 10) / 10, path: `M${a.x},${a.y} Q${mx},${my} ${b.x},${b.y}` });
  }
  return out;
}
