// Service port plans → the desired `inet twill-services` table. Pure: no clock, no I/O, no logging.
//
// A packet meets a fixed number of rules whatever the number of Services: one verdict-map lookup
// on (daddr . protocol . dport) in `services` picks a per-Service-port chain, which picks an
// endpoint with one `numgen random mod N vmap` and jumps to that endpoint's DNAT chain. Sets and
// maps carry the volume; chains are per Service port and per endpoint, so one endpoint change
// rewrites one small chain and a few map elements. Only a connection's first packet walks the
// nat chains; conntrack carries the rest. See README.md for the shape and the reasons.
import { NFT_TABLE_SERVICES, SERVICES_MASQUERADE_MARK } from '../dataplane/kernel/names.js';
import type { NftChain, NftElement, NftSet, NftTableModel } from '../policy/model.js';
import { formatCidr, tryParseCidr, tryParseIp, type Family } from '../util/ip.js';
import { affinitySet, endpointChain, externalChain, localChain, serviceChain } from './names.js';
import { resolveServices, type EndpointTarget, type ResolvedServices, type ServicePortPlan, type ServicesSnapshot } from './resolve.js';

export interface CompiledServices {
  model: NftTableModel;
  resolved: ResolvedServices;
}

const MARK = `0x${SERVICES_MASQUERADE_MARK.toString(16).padStart(8, '0')}`;
const REJECT = 'reject_no_endpoints';

const FAM: Record<Family, { sfx: string; match: string; type: string }> = {
  4: { sfx: 'v4', match: 'ip', type: 'ipv4_addr' },
  6: { sfx: 'v6', match: 'ip6', type: 'ipv6_addr' },
};

/** Family objects: filled while plans are compiled, sorted at the end. */
class FamilyMaps {
  readonly serviceIPs = new Map<string, string>();
  readonly nodePorts = new Map<string, string>();
  readonly noEndpoints = new Map<string, string>();
  readonly noEndpointNodePorts = new Map<string, string>();
  constructor(readonly f: Family) {}
}

function sorted(m: Map<string, string>): NftElement[] {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));
}

function pick(p: ServicePortPlan, eps: EndpointTarget[]): string[] {
  const rules = p.affinitySeconds ? eps.map((e) => `${FAM[p.family].match} saddr @${affinitySet(p, e)} goto ${endpointChain(p, e)}`) : [];
  if (eps.length === 1) rules.push(`goto ${endpointChain(p, eps[0]!)}`);
  else rules.push(`numgen random mod ${eps.length} vmap { ${eps.map((e, i) => `${i} : goto ${endpointChain(p, e)}`).join(', ')} }`);
  return rules;
}

function endpointObjects(p: ServicePortPlan, e: EndpointTarget): { chain: NftChain; set?: NftSet } {
  const { match } = FAM[p.family];
  const to = p.family === 4 ? `${e.ip}:${e.port}` : `[${e.ip}]:${e.port}`;
  const rules = [`${match} saddr ${e.ip} jump mark_for_masquerade comment "hairpin: the endpoint reaches itself"`];
  if (p.affinitySeconds) rules.push(`update @${affinitySet(p, e)} { ${match} saddr }`);
  rules.push(`meta l4proto ${p.protocol} dnat ${match} to ${to}`);
  const chain: NftChain = { name: endpointChain(p, e), rules };
  if (!p.affinitySeconds) return { chain };
  return { chain, set: { name: affinitySet(p, e), type: [FAM[p.family].type], flags: ['dynamic', 'timeout'], timeout: `${p.affinitySeconds}s`, elements: [] } };
}

function compilePort(p: ServicePortPlan, maps: FamilyMaps, chains: NftChain[], sets: NftSet[]): void {
  const { match, sfx } = FAM[p.family];
  const key = (ip: string, port: number): string => `${ip} . ${p.protocol} . ${port}`;
  const addrs = [...(p.clusterIP ? [p.clusterIP] : []), ...p.externalIPs];
  if (p.endpoints.length === 0) {
    for (const a of addrs) if (!maps.noEndpoints.has(key(a, p.port))) maps.noEndpoints.set(key(a, p.port), `goto ${REJECT}`);
    if (p.nodePort) maps.noEndpointNodePorts.set(`${p.protocol} . ${p.nodePort}`, `goto ${REJECT}`);
    return;
  }
  for (const e of p.endpoints) {
    const o = endpointObjects(p, e);
    chains.push(o.chain);
    if (o.set) sets.push(o.set);
  }
  chains.push({ name: serviceChain(p), rules: [`${match} saddr != @pod_pool_${sfx} jump mark_for_masquerade comment "from outside the pod network"`, ...pick(p, p.endpoints)] });
  const needLocal = (p.internalLocal || p.externalLocal) && p.localEndpoints.length > 0;
  if (needLocal) chains.push({ name: localChain(p), rules: pick(p, p.localEndpoints) });
  const setOnce = (m: Map<string, string>, k: string, v: string): void => void (m.has(k) ? undefined : m.set(k, v));
  if (p.clusterIP) {
    const internal = !p.internalLocal ? `goto ${serviceChain(p)}` : needLocal ? `goto ${localChain(p)}` : 'drop';
    setOnce(maps.serviceIPs, key(p.clusterIP, p.port), internal);
  }
  if (p.externalIPs.length === 0 && !p.nodePort) return;
  const ext = externalChain(p);
  const rules = !p.externalLocal
    ? ['jump mark_for_masquerade comment "external traffic takes the node\'s address"', `goto ${serviceChain(p)}`]
    : [
        `${match} saddr @pod_pool_${sfx} goto ${serviceChain(p)} comment "pods are inside the cluster: any endpoint"`,
        'fib saddr type local jump mark_for_masquerade',
        `fib saddr type local goto ${serviceChain(p)} comment "the node itself: any endpoint"`,
        needLocal ? `goto ${localChain(p)}` : 'drop comment "externalTrafficPolicy Local and no endpoint on this node"',
      ];
  chains.push({ name: ext, rules });
  for (const a of p.externalIPs) setOnce(maps.serviceIPs, key(a, p.port), `goto ${ext}`);
  if (p.nodePort) setOnce(maps.nodePorts, `${p.protocol} . ${p.nodePort}`, `goto ${ext}`);
}

function familySets(f: Family, maps: FamilyMaps, nodeIPs: string[], pools: string[]): NftSet[] {
  const { sfx, type } = FAM[f];
  const el = (xs: string[]): NftElement[] => [...new Set(xs)].sort().map((key) => ({ key }));
  const vmap = (name: string, keyType: string[], m: Map<string, string>, comment: string): NftSet => ({ name, type: keyType, map: 'verdict', flags: [], comment, elements: sorted(m) });
  return [
    { name: `node_ips_${sfx}`, type: [type], flags: [], comment: 'addresses NodePorts answer on', elements: el(nodeIPs) },
    { name: `pod_pool_${sfx}`, type: [type], flags: ['interval'], comment: 'the cluster pod network', elements: el(pools) },
    vmap(`service_ips_${sfx}`, [type, 'inet_proto', 'inet_service'], maps.serviceIPs, 'ClusterIPs, externalIPs, LoadBalancer IPs'),
    vmap(`nodeports_${sfx}`, ['inet_proto', 'inet_service'], maps.nodePorts, 'NodePorts on node_ips'),
    vmap(`no_endpoints_${sfx}`, [type, 'inet_proto', 'inet_service'], maps.noEndpoints, 'Service addresses with no endpoint'),
    vmap(`no_endpoint_nodeports_${sfx}`, ['inet_proto', 'inet_service'], maps.noEndpointNodePorts, 'NodePorts with no endpoint'),
  ];
}

function staticChains(families: Family[]): NftChain[] {
  const per = (fn: (m: string, s: string) => string[]): string[] => families.flatMap((f) => fn(FAM[f].match, FAM[f].sfx));
  return [
    { name: 'filter_prerouting', base: { type: 'filter', hook: 'prerouting', priority: 'dstnat - 10', policy: 'accept' }, rules: ['ct state new jump no_endpoints'] },
    { name: 'filter_output', base: { type: 'filter', hook: 'output', priority: '-110', policy: 'accept' }, rules: ['ct state new jump no_endpoints'] },
    { name: 'no_endpoints', rules: per((m, s) => [`${m} daddr . meta l4proto . th dport vmap @no_endpoints_${s}`, `${m} daddr @node_ips_${s} meta l4proto . th dport vmap @no_endpoint_nodeports_${s}`]) },
    { name: REJECT, rules: ['meta l4proto tcp reject with tcp reset', 'reject with icmpx port-unreachable'] },
    { name: 'nat_prerouting', base: { type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' }, rules: ['jump services'] },
    { name: 'nat_output', base: { type: 'nat', hook: 'output', priority: '-100', policy: 'accept' }, rules: ['jump services'] },
    { name: 'nat_postrouting', base: { type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' }, rules: ['jump masquerading'] },
    { name: 'services', rules: per((m, s) => [`${m} daddr . meta l4proto . th dport vmap @service_ips_${s}`, `${m} daddr @node_ips_${s} meta l4proto . th dport vmap @nodeports_${s}`]) },
    { name: 'mark_for_masquerade', rules: [`meta mark set meta mark or ${MARK}`] },
    { name: 'masquerading', rules: [`meta mark and ${MARK} == 0 return`, `meta mark set meta mark xor ${MARK}`, 'masquerade fully-random'] },
  ];
}

export function compileServices(s: ServicesSnapshot): CompiledServices {
  const resolved = resolveServices(s);
  const fam = (x: string): Family | undefined => tryParseIp(x)?.family;
  const pools = s.podCidrs.map((c) => tryParseCidr(c)).filter((c) => c !== undefined);
  const present = new Set<Family>([...pools.map((c) => c.family), ...s.node.addresses.map(fam), ...resolved.ports.map((p) => p.family)].filter((f) => f !== undefined));
  const families = ([4, 6] as const).filter((f) => present.has(f) || (f === 4 && present.size === 0));
  const maps = new Map(families.map((f) => [f, new FamilyMaps(f)]));
  const chains: NftChain[] = [];
  const sets: NftSet[] = [];
  for (const p of resolved.ports) compilePort(p, maps.get(p.family)!, chains, sets);
  const familyObjects = families.flatMap((f) => familySets(f, maps.get(f)!, s.node.addresses.filter((a) => fam(a) === f), pools.filter((c) => c.family === f).map(formatCidr)));
  const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    model: { family: 'inet', table: NFT_TABLE_SERVICES, counters: [], sets: [...familyObjects, ...sets.sort(byName)], chains: [...staticChains(families), ...chains.sort(byName)] },
    resolved,
  };
}
