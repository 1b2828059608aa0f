// Service port plans → the objects of the `inet twill-services` table. Pure: no clock, no I/O,
// no logging.
//
// A packet meets a fixed number of lookups whatever the number of Services and endpoints: one
// verdict-map lookup on (daddr . protocol . dport) in `service_ips` picks a small shared chain
// for "a Service with N endpoints" (`svc_v4_3`), which draws `numgen random mod N` and looks the
// endpoint up in ONE map keyed by (daddr . protocol . dport . draw). So a Service is map elements
// only, not chains: ten thousand Services are the same dozen chains as ten, and an endpoint change
// is a few element deletes and adds. Hairpin (a pod reaching itself) is one lookup of
// (saddr . daddr) in a set of `E . E` pairs at postrouting, for every Service at once. Only
// ClientIP affinity keeps chains of its own per Service port and per endpoint (the affinity sets
// are per endpoint: see README.md). Only a connection's first packet walks the nat chains;
// conntrack carries the rest.
import { SERVICES_MASQUERADE_MARK } from '../dataplane/kernel/names.js';
import type { NftChain, NftSet } from '../policy/model.js';
import { flat, StringPool } from '../util/flat.js';
import type { Family } from '../util/ip.js';
import { affinitySet, endpointChain, externalChain, localChain, serviceChain } from './names.js';
import type { EndpointTarget, ServicePortPlan } from './resolve.js';

export const MARK = `0x${SERVICES_MASQUERADE_MARK.toString(16).padStart(8, '0')}`;
const REJECT = 'reject_no_endpoints';
const TO_REJECT = `goto ${REJECT}`;

export const FAM: Record<Family, { sfx: string; match: string; type: string }> = {
  4: { sfx: 'v4', match: 'ip', type: 'ipv4_addr' },
  6: { sfx: 'v6', match: 'ip6', type: 'ipv6_addr' },
};

/** The maps whose elements carry the Services (per family: `${base}_v4`, `${base}_v6`). */
export const BULK = ['service_ips', 'nodeports', 'no_endpoints', 'no_endpoint_nodeports', 'endpoints', 'local_endpoints', 'hairpin'] as const;
export type Bulk = (typeof BULK)[number];

/** The bulk maps' names by family: one string each, not one per element (`${name}_${sfx}` would be). */
const MAP: Record<Family, Record<Bulk, string>> = {
  4: Object.fromEntries(BULK.map((b) => [b, `${b}_v4`])) as Record<Bulk, string>,
  6: Object.fromEntries(BULK.map((b) => [b, `${b}_v6`])) as Record<Bulk, string>,
};

/**
 * Shared chains and verdicts are the same few dozen objects and strings for every Service: one
 * instance each (ten thousand fragments each holding its own `svc_v4_3` chain object and `goto
 * svc_v4_3` string were ~4 MB). Chains are read-only once built.
 */
const sharedChains = new Map<string, NftChain>();
const verdicts = new StringPool();
function sharedChain(name: string, build: () => NftChain): NftChain {
  let c = sharedChains.get(name);
  if (!c) {
    if (sharedChains.size >= 10_000) sharedChains.clear();
    sharedChains.set(name, (c = build()));
  }
  return c;
}

/** What one Service contributes to the table. */
export interface Fragment {
  /**
   * Its elements as flat triples: bulk map name (`service_ips_v4`, …), key, value ('' in sets).
   * Flat because ten thousand of these stay in memory.
   */
  elements: string[];
  /** Shared chains it uses (`svc_v4_3`, …). */
  picks: NftChain[];
  /** Chains and sets of its own (ClientIP affinity only). */
  chains: NftChain[];
  sets: NftSet[];
}

/**
 * A fragment while it is built: flat triples, the first write of a (map, key) wins. A fragment
 * has a handful of elements: duplicates are found by a scan, and by a set only past a few dozen
 * (a Map of Maps per fragment was 40,000 short-lived Maps at a 10,000-Service compile).
 */
interface Building extends Omit<Fragment, 'elements'> {
  elements: string[];
  seen?: Set<string>;
}

const SCAN_UP_TO = 3 * 32;

function put(fr: Building, map: string, key: string, value = ''): boolean {
  const els = fr.elements;
  if (els.length < SCAN_UP_TO) {
    for (let i = 0; i < els.length; i += 3) if (els[i + 1] === key && els[i] === map) return false;
  } else {
    if (!fr.seen) {
      fr.seen = new Set();
      for (let i = 0; i < els.length; i += 3) fr.seen.add(`${els[i]}\u0000${els[i + 1]}`);
    }
    const k = `${map}\u0000${key}`;
    if (fr.seen.has(k)) return false;
    fr.seen.add(k);
  }
  els.push(map, key, value);
  return true;
}

// ---- shared chains: one per (kind, family, number of endpoints) ----

const draw = (f: Family, n: number, map: string): string => {
  const { match } = FAM[f];
  return `dnat ${match} to ${match} daddr . meta l4proto . th dport . numgen random mod ${n} map @${map}_${FAM[f].sfx}`;
};

/** Any endpoint of N (cluster-wide choice); masquerade when the client is outside the pod network. */
export function clusterPick(f: Family, n: number): NftChain {
  const { match, sfx } = FAM[f];
  return sharedChain(`svc_${sfx}_${n}`, () => ({ name: `svc_${sfx}_${n}`, rules: [`${match} saddr != @pod_pool_${sfx} jump mark_for_masquerade comment "from outside the pod network"`, draw(f, n, 'endpoints')] }));
}

/** One of this node's N endpoints (traffic policy Local). */
export function localPick(f: Family, n: number): NftChain {
  const name = `local_${FAM[f].sfx}_${n}`;
  return sharedChain(name, () => ({ name, rules: [draw(f, n, 'local_endpoints')] }));
}

/** External traffic, externalTrafficPolicy Cluster: it takes the node's address. */
export function externalPick(f: Family, n: number): NftChain {
  const name = `ext_${FAM[f].sfx}_${n}`;
  return sharedChain(name, () => ({ name, rules: ['jump mark_for_masquerade comment "external traffic takes the node\'s address"', draw(f, n, 'endpoints')] }));
}

/** External traffic, externalTrafficPolicy Local, N endpoints of which `local` on this node. */
export function externalLocalPick(f: Family, n: number, local: number): NftChain {
  const { match, sfx } = FAM[f];
  return sharedChain(`extlocal_${sfx}_${n}_${local}`, () => ({
    name: `extlocal_${sfx}_${n}_${local}`,
    rules: [
      `${match} saddr @pod_pool_${sfx} goto svc_${sfx}_${n} comment "pods are inside the cluster: any endpoint"`,
      'fib saddr type local jump mark_for_masquerade',
      `fib saddr type local goto svc_${sfx}_${n} comment "the node itself: any endpoint"`,
      local > 0 ? `goto local_${sfx}_${local}` : 'drop comment "externalTrafficPolicy Local and no endpoint on this node"',
    ],
  }));
}

// ---- one Service ----

// Element keys and values live as long as their Service: built flat (util/flat.ts).
const key3 = (p: ServicePortPlan, ip: string, port: number): string => flat(`${ip} . ${p.protocol} . ${port}`);
const target = (p: ServicePortPlan, e: EndpointTarget): string => flat(`${e.ip} . ${e.port}`);

function compileDrawn(p: ServicePortPlan, fr: Building, nodeIPs: string[]): void {
  const maps = MAP[p.family];
  const n = p.endpoints.length;
  const m = p.localEndpoints.length;
  const needLocal = p.internalLocal || p.externalLocal;
  const fill = (ip: string, port: number): void => {
    const k = `${ip} . ${p.protocol} . ${port} . `;
    p.endpoints.forEach((e, i) => put(fr, maps.endpoints, flat(`${k}${i}`), target(p, e)));
    if (needLocal) p.localEndpoints.forEach((e, i) => put(fr, maps.local_endpoints, flat(`${k}${i}`), target(p, e)));
  };
  const cluster = clusterPick(p.family, n);
  fr.picks.push(cluster);
  const local = needLocal && m > 0 ? localPick(p.family, m) : undefined;
  if (local) fr.picks.push(local);
  if (p.clusterIP) {
    const v = !p.internalLocal ? verdicts.get(`goto ${cluster.name}`) : local ? verdicts.get(`goto ${local.name}`) : 'drop';
    if (put(fr, maps.service_ips, key3(p, p.clusterIP, p.port), v)) fill(p.clusterIP, p.port);
  }
  if (p.externalIPs.length === 0 && !p.nodePort) return;
  const ext = p.externalLocal ? externalLocalPick(p.family, n, m) : externalPick(p.family, n);
  fr.picks.push(ext);
  const toExt = verdicts.get(`goto ${ext.name}`);
  for (const a of p.externalIPs) if (put(fr, maps.service_ips, key3(p, a, p.port), toExt)) fill(a, p.port);
  if (p.nodePort && put(fr, maps.nodeports, flat(`${p.protocol} . ${p.nodePort}`), toExt)) for (const a of nodeIPs) fill(a, p.nodePort);
}

/** ClientIP affinity: the recent-clients sets are per endpoint, so such a port keeps its own chains. */
function compileAffinity(p: ServicePortPlan, fr: Building): void {
  const { match, sfx, type } = FAM[p.family];
  const pick = (eps: EndpointTarget[]): string[] => {
    const rules = eps.map((e) => `${match} saddr @${affinitySet(p, e)} goto ${endpointChain(p, e)}`);
    if (eps.length === 1) rules.push(`goto ${endpointChain(p, eps[0]!)}`);
    else rules.push(`numgen random mod ${eps.length} vmap { ${eps.map((e, i) => `${i} : goto ${endpointChain(p, e)}`).join(', ')} }`);
    return rules;
  };
  for (const e of p.endpoints) {
    const to = p.family === 4 ? `${e.ip}:${e.port}` : `[${e.ip}]:${e.port}`;
    fr.chains.push({ name: endpointChain(p, e), rules: [`update @${affinitySet(p, e)} { ${match} saddr }`, `meta l4proto ${p.protocol} dnat ${match} to ${to}`] });
    fr.sets.push({ name: affinitySet(p, e), type: [type], flags: ['dynamic', 'timeout'], timeout: `${p.affinitySeconds}s`, elements: [] });
  }
  fr.chains.push({ name: serviceChain(p), rules: [`${match} saddr != @pod_pool_${sfx} jump mark_for_masquerade comment "from outside the pod network"`, ...pick(p.endpoints)] });
  const needLocal = (p.internalLocal || p.externalLocal) && p.localEndpoints.length > 0;
  if (needLocal) fr.chains.push({ name: localChain(p), rules: pick(p.localEndpoints) });
  if (p.clusterIP) {
    const internal = !p.internalLocal ? `goto ${serviceChain(p)}` : needLocal ? `goto ${localChain(p)}` : 'drop';
    put(fr, `service_ips_${sfx}`, key3(p, p.clusterIP, p.port), internal);
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
  fr.chains.push({ name: ext, rules });
  for (const a of p.externalIPs) put(fr, `service_ips_${sfx}`, key3(p, a, p.port), `goto ${ext}`);
  if (p.nodePort) put(fr, `nodeports_${sfx}`, `${p.protocol} . ${p.nodePort}`, `goto ${ext}`);
}

/** One Service's ports → its elements and objects. `nodeIPs[f]`: the node's addresses of family f. */
export function compileFragment(ports: ServicePortPlan[], nodeIPs: Record<Family, string[]>): Fragment {
  const fr: Building = { elements: [], picks: [], chains: [], sets: [] };
  for (const p of ports) {
    const maps = MAP[p.family];
    if (p.endpoints.length === 0) {
      for (const a of [...(p.clusterIP ? [p.clusterIP] : []), ...p.externalIPs]) put(fr, maps.no_endpoints, key3(p, a, p.port), TO_REJECT);
      if (p.nodePort) put(fr, maps.no_endpoint_nodeports, flat(`${p.protocol} . ${p.nodePort}`), TO_REJECT);
      continue;
    }
    for (const e of p.endpoints) put(fr, maps.hairpin, flat(`${e.ip} . ${e.ip}`));
    if (p.affinitySeconds) compileAffinity(p, fr);
    else compileDrawn(p, fr, nodeIPs[p.family]);
  }
  // Arrays sized exactly (slice): one grown by push keeps spare room (a one-element `picks` took
  // 152 bytes), and ten thousand fragments stay in memory. Services without chains share one empty list.
  return { elements: fr.elements.slice(), picks: fr.picks.slice(), chains: fr.chains.length ? fr.chains : NO_CHAINS, sets: fr.sets.length ? fr.sets : NO_SETS };
}

const NO_CHAINS: NftChain[] = [];
const NO_SETS: NftSet[] = [];

// ---- the table's fixed part ----

/** The bulk maps of one family, declared without elements. */
export function bulkMaps(f: Family): NftSet[] {
  const { sfx, match, type } = FAM[f];
  const vmap = (name: string, keyType: string[], comment: string): NftSet => ({ name: `${name}_${sfx}`, type: keyType, map: 'verdict', flags: [], comment, elements: [] });
  // A rule using these maps cannot be added to a loaded table with `nft -f` (nft 1.0.6): see netlink.ts.
  const draws = (name: string, comment: string): NftSet => ({
    name: `${name}_${sfx}`,
    type: [type, 'inet_proto', 'inet_service', 'integer'],
    map: 'data',
    dataType: [type, 'inet_service'],
    typeof: `${match} daddr . meta l4proto . th dport . numgen random mod 1 : ${match} daddr . th dport`,
    flags: [],
    comment,
    elements: [],
  });
  return [
    vmap('service_ips', [type, 'inet_proto', 'inet_service'], 'ClusterIPs, externalIPs, LoadBalancer IPs'),
    vmap('nodeports', ['inet_proto', 'inet_service'], 'NodePorts on node_ips'),
    vmap('no_endpoints', [type, 'inet_proto', 'inet_service'], 'Service addresses with no endpoint'),
    vmap('no_endpoint_nodeports', ['inet_proto', 'inet_service'], 'NodePorts with no endpoint'),
    draws('endpoints', 'Service address . port . draw -> endpoint'),
    draws('local_endpoints', 'the same over this node\'s endpoints'),
    { name: `hairpin_${sfx}`, type: [type, type], flags: [], comment: 'E . E for every endpoint E: a pod that reached itself', elements: [] },
  ];
}

/** The node's and the pool's sets of one family. */
export function familySets(f: Family, nodeIPs: string[], pools: string[]): NftSet[] {
  const { sfx, type } = FAM[f];
  const el = (xs: string[]): { key: string }[] => [...new Set(xs)].sort().map((key) => ({ key }));
  return [
    { name: `node_ips_${sfx}`, type: [type], flags: [], comment: 'addresses NodePorts answer on', elements: el(nodeIPs) },
    { name: `pod_pool_${sfx}`, type: [type], flags: ['interval'], comment: 'the cluster pod network', elements: el(pools) },
  ];
}

export function staticChains(families: Family[]): NftChain[] {
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
    {
      name: 'masquerading',
      rules: [
        ...per((m, s) => [`ct status dnat ${m} saddr . ${m} daddr @hairpin_${s} jump mark_for_masquerade comment "hairpin: the endpoint reached itself"`]),
        `meta mark and ${MARK} == 0 return`,
        `meta mark set meta mark xor ${MARK}`,
        'masquerade fully-random',
      ],
    },
  ];
}
