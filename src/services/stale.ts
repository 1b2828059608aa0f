// Which conntrack entries to remove when endpoints go away. Pure.
import type { ConntrackFilter } from '../dataplane/kernel/conntrack-delete.js';
import type { ServicePortPlan } from './resolve.js';

/** Flows to clear: UDP (or SCTP) endpoints of a port in `prev` that `next` no longer sends to. */
export function staleFlows(prev: ServicePortPlan[], next: ServicePortPlan[]): ConntrackFilter[] {
  const now = new Map(next.map((p) => [`${p.family}|${p.id}`, p]));
  const out: ConntrackFilter[] = [];
  for (const p of prev) {
    if (p.protocol === 'tcp') continue;
    const n = now.get(`${p.family}|${p.id}`);
    const kept = new Set((n?.endpoints ?? []).map((e) => `${e.ip}/${e.port}`));
    for (const e of p.endpoints) {
      if (kept.has(`${e.ip}/${e.port}`)) continue;
      for (const a of [...(p.clusterIP ? [p.clusterIP] : []), ...p.externalIPs]) out.push({ protocol: p.protocol, origDst: a, origDstPort: p.port, replySrc: e.ip, replySrcPort: e.port });
      if (p.nodePort) out.push({ protocol: p.protocol, origDstPort: p.nodePort, replySrc: e.ip, replySrcPort: e.port });
    }
  }
  return out;
}
