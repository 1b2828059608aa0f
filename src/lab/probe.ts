// `lab probe`: every pod tries every pod on every declared port (or the ports asked for), from
// inside the source pod. Output: results for machines, a truth-table matrix for people.
import type { Lab } from './lab.js';
import { LabKubelet, type PodRecord } from './kubelet.js';
import { probeFrom } from './pod-sandbox.js';
import { podDir } from './state.js';
import type { ProbeTarget } from './pod-server.js';
import { mapLimit } from '../util/mutex.js';

export interface ProbeOptions {
  ports?: number[];
  protocols?: ('tcp' | 'udp')[];
  timeoutMs: number;
  /** Only pods in these namespaces (as sources and targets). */
  namespaces?: string[];
}

export interface ProbeResult {
  from: string;
  to: string;
  port: number;
  protocol: 'tcp' | 'udp';
  connected: boolean;
  detail?: string;
}

function targetsFor(to: PodRecord, o: ProbeOptions): { port: number; protocol: 'tcp' | 'udp' }[] {
  const protos = o.protocols;
  if (o.ports?.length) {
    const ps = protos?.length ? protos : (['tcp'] as const);
    return o.ports.flatMap((port) => ps.map((protocol) => ({ port, protocol })));
  }
  return to.ports.filter((p) => !protos?.length || protos.includes(p.protocol));
}

export async function probeLab(lab: Lab, o: ProbeOptions): Promise<ProbeResult[]> {
  const pods = (await new LabKubelet(lab).records()).filter((p) => !o.namespaces?.length || o.namespaces.includes(p.namespace));
  const out: ProbeResult[] = [];
  await mapLimit(pods, 16, async (from) => {
    const targets: (ProbeTarget & { to: string })[] = [];
    for (const to of pods) for (const t of targetsFor(to, o)) targets.push({ ip: to.ip, port: t.port, protocol: t.protocol, timeoutMs: o.timeoutMs, to: `${to.namespace}/${to.name}` });
    if (targets.length === 0) return;
    const results = await probeFrom(podDir(lab.name, from.namespace, from.name), targets.map(({ to: _to, ...t }) => t));
    results.forEach((r, i) => {
      out.push({ from: `${from.namespace}/${from.name}`, to: targets[i]!.to, port: r.port, protocol: r.protocol, connected: r.connected, ...(r.connected ? {} : { detail: r.detail }) });
    });
  });
  const key = (r: ProbeResult) => `${r.port}/${r.protocol} ${r.from} ${r.to}`;
  return out.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol) || a.from.localeCompare(b.from) || a.to.localeCompare(b.to) || key(a).localeCompare(key(b)));
}

function matrix(title: string, rs: ProbeResult[]): { lines: string[]; mixed: boolean } {
  const froms = [...new Set(rs.map((r) => r.from))].sort();
  const tos = [...new Set(rs.map((r) => r.to))].sort();
  const w = Math.max(4, ...froms.map((f) => f.length));
  const cw = Math.max(3, ...tos.map((t) => t.length));
  const cells = new Map<string, ProbeResult[]>();
  for (const r of rs) cells.set(`${r.from} ${r.to}`, [...(cells.get(`${r.from} ${r.to}`) ?? []), r]);
  const lines = [title, `${''.padEnd(w)}  ${tos.map((t) => t.padStart(cw)).join(' ')}`];
  let mixed = false;
  for (const f of froms) {
    const row = tos.map((t) => {
      const c = cells.get(`${f} ${t}`) ?? [];
      const ok = c.filter((r) => r.connected).length;
      if (ok > 0 && ok < c.length) mixed = true;
      return (c.length === 0 ? ' ' : ok === c.length ? '.' : ok === 0 ? 'X' : '~').padStart(cw);
    });
    lines.push(`${f.padEnd(w)}  ${row.join(' ')}`);
  }
  return { lines, mixed };
}

/**
 * The reachability matrix: rows are sources, columns targets; "." every probe connected, "X"
 * none did, "~" some did. When a cell is mixed, one matrix per port/protocol follows.
 */
export function formatMatrix(results: ProbeResult[]): string {
  const ok = results.filter((r) => r.connected).length;
  const { lines, mixed } = matrix('all declared ports  (rows: from, columns: to; . connected, X blocked, ~ some ports)', results);
  lines.push(`${ok}/${results.length} connections`, '');
  if (!mixed) return lines.join('\n');
  const groups = new Map<string, ProbeResult[]>();
  for (const r of results) {
    const k = `${r.port}/${r.protocol.toUpperCase()}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const [k, rs] of groups) {
    lines.push(...matrix(`port ${k}`, rs).lines, `${rs.filter((r) => r.connected).length}/${rs.length} connected`, '');
  }
  return lines.join('\n');
}
