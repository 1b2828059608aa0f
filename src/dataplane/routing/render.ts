// DesiredRouting as text, one object per line in `ip`-like words: for golden files, debug logs
// and status output. Every field of every object appears, so a golden catches any change.
import { formatRoute } from './plan.js';
import type { DesiredRouting } from './types.js';

export function renderRouting(d: DesiredRouting): string {
  const lines: string[] = [];
  if (d.device) {
    const v = d.device;
    lines.push(
      `device ${v.name} ${v.kind} vni ${v.vni} port ${v.port} local ${v.localIp} dev ${v.parentIface} ` +
        `mtu ${v.mtu} mac ${v.mac} address ${v.address ?? 'none'} learning off`,
    );
  } else {
    lines.push('device none');
  }
  lines.push(`podMTU ${d.podMTU}`);
  for (const r of d.routes) lines.push(`route ${formatRoute(r)}`);
  for (const n of d.neighbors) lines.push(`neigh ${n.ip} lladdr ${n.mac} dev ${n.dev} permanent`);
  for (const f of d.fdb) lines.push(`fdb ${f.mac} dst ${f.dst} dev ${f.dev} permanent`);
  for (const e of d.peerErrors) lines.push(`peer-error ${e.peer}: ${e.reason}`);
  return lines.join('\n') + '\n';
}
