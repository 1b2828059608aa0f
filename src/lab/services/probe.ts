// `lab probe --service NS/NAME`: every pod (or the pods asked for) connects to the Service's
// ClusterIP on each of its TCP/UDP ports, `count` times, from inside the pod; each result names
// the endpoint pod that answered (the lab's pod server answers with its identity).
import { mapLimit } from '../../util/mutex.js';
import { TwillError } from '../../util/errors.js';
import type { Lab } from '../lab.js';
import { LabKubelet } from '../kubelet.js';
import { probeFrom } from '../pod-sandbox.js';
import { podDir } from '../state.js';

export interface ServiceProbeResult {
  from: string;
  service: string;
  address: string;
  port: number;
  protocol: 'tcp' | 'udp';
  connected: boolean;
  /** `namespace/name` of the endpoint pod that answered. */
  endpoint?: string;
  /** The client address the endpoint saw (TCP). */
  seenFrom?: string;
  detail?: string;
  ms: number;
}

export async function probeService(lab: Lab, service: string, o: { count: number; timeoutMs: number; namespaces?: string[] }): Promise<ServiceProbeResult[]> {
  const [ns, name] = service.split('/');
  if (!ns || !name) throw new TwillError('VALIDATION', `--service must be NAMESPACE/NAME, got "${service}"`);
  const svc = await (await lab.store()).get('Service', `${ns}/${name}`);
  if (!svc) throw new TwillError('NOT_FOUND', `Service ${service} does not exist in lab ${lab.name}`);
  const address = svc.spec.clusterIP;
  if (!address || address === 'None') throw new TwillError('VALIDATION', `Service ${service} has no ClusterIP to probe`);
  const ports = (svc.spec.ports ?? []).filter((p) => (p.protocol ?? 'TCP') !== 'SCTP').map((p) => ({ port: p.port, protocol: (p.protocol ?? 'TCP').toLowerCase() as 'tcp' | 'udp' }));
  const pods = (await new LabKubelet(lab).records()).filter((p) => !o.namespaces?.length || o.namespaces.includes(p.namespace));
  const out: ServiceProbeResult[] = [];
  // A few connections at a time per pod: the pod server gives an answer 50 ms after connecting,
  // and a burst of hundreds of connections on a small host can take longer than that.
  await mapLimit(pods, 4, async (from) => {
    const targets = ports.flatMap((p) => Array.from({ length: o.count }, () => ({ ip: address, port: p.port, protocol: p.protocol, timeoutMs: o.timeoutMs })));
    const results = [];
    for (let i = 0; i < targets.length; i += 5) results.push(...(await probeFrom(podDir(lab.name, from.namespace, from.name), targets.slice(i, i + 5))));
    for (const r of results) {
      const [who, seen] = r.detail.split(' ');
      const answered = r.connected && who !== undefined && who.includes('/');
      out.push({
        from: `${from.namespace}/${from.name}`, service, address, port: r.port, protocol: r.protocol, connected: r.connected, ms: r.ms,
        ...(answered ? { endpoint: who } : {}), ...(answered && seen ? { seenFrom: seen } : {}), ...(!answered ? { detail: r.detail } : {}),
      });
    }
  });
  return out.sort((a, b) => a.from.localeCompare(b.from) || a.port - b.port);
}

/** One line per source pod and port: how many connections each endpoint answered. */
export function formatServiceProbe(rs: ServiceProbeResult[]): string {
  const rows = new Map<string, ServiceProbeResult[]>();
  for (const r of rs) rows.set(`${r.from} → ${r.address}:${r.port}/${r.protocol}`, [...(rows.get(`${r.from} → ${r.address}:${r.port}/${r.protocol}`) ?? []), r]);
  const lines: string[] = [];
  for (const [k, list] of rows) {
    const by = new Map<string, number>();
    for (const r of list) by.set(r.endpoint ?? (r.connected ? 'connected, no answer' : `failed: ${r.detail}`), (by.get(r.endpoint ?? (r.connected ? 'connected, no answer' : `failed: ${r.detail}`)) ?? 0) + 1);
    lines.push(`${k}  ${[...by].sort().map(([e, n]) => `${e}×${n}`).join('  ')}`);
  }
  return lines.join('\n');
}
