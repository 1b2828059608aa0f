// What the lab's cluster DNS answers, after the Kubernetes DNS specification's core: a Service
// `NAME.NS.svc.DOMAIN` has an A record for its ClusterIP; a headless one, one per ready endpoint
// address; an ExternalName one, a CNAME; `A-B-C-D.NS.pod.DOMAIN` is that address. Anything else
// in the domain does not exist; names outside it are not resolved (nothing leaves the lab). IPv4
// only (the lab is): AAAA questions of existing names get no answer, not an error. Pure.
import { SERVICE_NAME_LABEL, type EndpointSlice, type Service } from '../../../model/types.js';
import { isIp } from '../../../util/ip.js';
import { RCODE_NXDOMAIN, RCODE_OK, TYPE_A, TYPE_CNAME, type Answer } from './wire.js';

export interface DnsData {
  domain: string;
  /** By `namespace/name`. */
  services: Map<string, Service>;
  slices: EndpointSlice[];
}

export interface Lookup {
  rcode: number;
  answers: { name: string; answer: Answer }[];
}

const NONE: Lookup = { rcode: RCODE_NXDOMAIN, answers: [] };

function endpointAddresses(data: DnsData, ns: string, svc: string): string[] {
  const out = new Set<string>();
  for (const s of data.slices) {
    if (s.metadata.namespace !== ns || s.metadata.labels?.[SERVICE_NAME_LABEL] !== svc || s.addressType !== 'IPv4') continue;
    for (const e of s.endpoints) if (e.conditions?.ready !== false) for (const a of e.addresses) out.add(a);
  }
  return [...out].sort();
}

export function lookup(data: DnsData, name: string, type: number): Lookup {
  const suffix = `.${data.domain}`;
  if (!name.endsWith(suffix)) return NONE;
  const labels = name.slice(0, -suffix.length).split('.');
  const wants = (t: number): boolean => type === t || type === 255;
  if (labels.length === 3 && labels[2] === 'pod') {
    const ip = labels[0]!.replaceAll('-', '.');
    if (!isIp(ip) || ip.includes(':')) return NONE;
    return { rcode: RCODE_OK, answers: wants(TYPE_A) ? [{ name, answer: { type: TYPE_A, ip } }] : [] };
  }
  if (labels.length !== 3 || labels[2] !== 'svc') return NONE;
  const [svcName, ns] = labels as [string, string];
  const svc = data.services.get(`${ns}/${svcName}`);
  if (!svc) return NONE;
  if (svc.spec.type === 'ExternalName') {
    const target = (svc.spec.externalName ?? '').replace(/\.$/, '');
    return target && (wants(TYPE_CNAME) || wants(TYPE_A) || type === 28) ? { rcode: RCODE_OK, answers: [{ name, answer: { type: TYPE_CNAME, target } }] } : { rcode: RCODE_OK, answers: [] };
  }
  if (!wants(TYPE_A)) return { rcode: RCODE_OK, answers: [] };
  const ips = svc.spec.clusterIP === 'None' || !svc.spec.clusterIP ? endpointAddresses(data, ns, svcName) : [svc.spec.clusterIP];
  return { rcode: RCODE_OK, answers: ips.filter((ip) => isIp(ip) && !ip.includes(':')).map((ip) => ({ name, answer: { type: TYPE_A, ip } })) };
}
