// Flow filters with `hubble observe`'s habits. Pure (also bundled into the web UI).
//   --from/--to  NAMESPACE/POD | NAMESPACE/ (a namespace) | KEY=VALUE[,KEY=VALUE] (labels) | IP | CIDR,
//                or explicit: pod:NS/NAME, namespace:NS, label:K=V, ip:IP, cidr:CIDR
//   --verdict FORWARDED|DROPPED  --port N  --protocol tcp|udp|sctp|icmp  --policy NS/NAME
//   --node NAME  --since TIME
import { cidrContains, tryParseCidr, tryParseIp } from '../util/ip.js';
import type { FlowEndpoint, FlowRecord } from './record.js';

export type EndSelector =
  | { pod: string; namespace: string }
  | { namespace: string }
  | { labels: [string, string][] }
  | { ip: string }
  | { cidr: string };

export interface FlowFilter {
  from?: EndSelector[];
  to?: EndSelector[];
  verdict?: ('FORWARDED' | 'DROPPED')[];
  port?: number[];
  protocol?: string[];
  policy?: string[];
  node?: string[];
  /** ISO time: records at or after it. */
  since?: string;
}

export class FilterError extends Error {}

export function parseEndSelector(s: string): EndSelector {
  const m = /^(pod|namespace|label|ip|cidr):(.*)$/.exec(s);
  const kind = m?.[1];
  const v = m ? m[2]! : s;
  const labels = (): EndSelector => {
    const pairs = v.split(',').map((kv) => kv.split('=', 2).map((x) => x.trim()) as [string, string]);
    if (pairs.some((p) => !p[0] || p[1] === undefined)) throw new FilterError(`"${s}": a label selector is KEY=VALUE[,KEY=VALUE…]`);
    return { labels: pairs };
  };
  if (kind === 'label' || (!kind && v.includes('='))) return labels();
  if (kind === 'ip' || (!kind && tryParseIp(v))) {
    if (!tryParseIp(v)) throw new FilterError(`"${s}" is not an IP address`);
    return { ip: v };
  }
  if (kind === 'cidr' || (!kind && v.includes('/') && tryParseCidr(v))) {
    if (!tryParseCidr(v)) throw new FilterError(`"${s}" is not a CIDR`);
    return { cidr: v };
  }
  if (kind === 'namespace') return { namespace: v };
  if (!kind && v.endsWith('/') && v.length > 1) return { namespace: v.slice(0, -1) };
  const parts = v.split('/');
  if (parts.length === 2 && parts[0] && parts[1]) return { namespace: parts[0], pod: parts[1] };
  if (parts.length === 1 && parts[0]) return { namespace: 'default', pod: parts[0] };
  throw new FilterError(`"${s}": expected NAMESPACE/POD, NAMESPACE/, KEY=VALUE, an IP address or a CIDR`);
}

function endMatches(sel: EndSelector, e: FlowEndpoint): boolean {
  if ('pod' in sel) return e.namespace === sel.namespace && e.pod_name === sel.pod;
  if ('namespace' in sel) return e.namespace === sel.namespace;
  if ('labels' in sel) return sel.labels.every(([k, v]) => e.labels.includes(`${k}=${v}`));
  if ('ip' in sel) return tryParseIp(sel.ip)?.value === tryParseIp(e.ip)?.value;
  const c = tryParseCidr(sel.cidr);
  const ip = tryParseIp(e.ip);
  return !!c && !!ip && cidrContains(c, ip);
}

export function protocolOf(r: FlowRecord): string {
  const l = r.l4;
  return l.TCP ? 'tcp' : l.UDP ? 'udp' : l.SCTP ? 'sctp' : l.ICMPv4 || l.ICMPv6 ? 'icmp' : `proto-${l.other?.protocol}`;
}

export function portsOf(r: FlowRecord): number[] {
  const p = r.l4.TCP ?? r.l4.UDP ?? r.l4.SCTP;
  return p ? [p.source_port, p.destination_port] : [];
}

export function matchesFilter(f: FlowFilter, r: FlowRecord): boolean {
  if (f.from?.length && !f.from.some((s) => endMatches(s, r.source))) return false;
  if (f.to?.length && !f.to.some((s) => endMatches(s, r.destination))) return false;
  if (f.verdict?.length && !f.verdict.includes(r.verdict)) return false;
  if (f.port?.length && !portsOf(r).some((p) => f.port!.includes(p))) return false;
  if (f.protocol?.length && !f.protocol.includes(protocolOf(r))) return false;
  if (f.policy?.length && !r.policies.some((p) => f.policy!.includes(`${p.namespace}/${p.name}`))) return false;
  if (f.node?.length && !f.node.includes(r.node_name)) return false;
  if (f.since && r.time < f.since) return false;
  return true;
}

/** Checks a filter that arrived as JSON (the agent's API); throws FilterError naming the field. */
export function validateFilter(v: unknown): FlowFilter {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object') throw new FilterError('the filter must be a JSON object');
  const f = v as Record<string, unknown>;
  const list = (k: string, ok: (x: unknown) => boolean): void => {
    if (f[k] !== undefined && (!Array.isArray(f[k]) || !(f[k] as unknown[]).every(ok))) throw new FilterError(`filter.${k} has the wrong shape`);
  };
  list('from', (x) => typeof x === 'object' && x !== null);
  list('to', (x) => typeof x === 'object' && x !== null);
  list('verdict', (x) => x === 'FORWARDED' || x === 'DROPPED');
  list('port', (x) => Number.isInteger(x));
  list('protocol', (x) => typeof x === 'string');
  list('policy', (x) => typeof x === 'string');
  list('node', (x) => typeof x === 'string');
  if (f['since'] !== undefined && typeof f['since'] !== 'string') throw new FilterError('filter.since must be an ISO time');
  return f as FlowFilter;
}
