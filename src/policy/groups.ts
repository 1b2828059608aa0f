// Local pods → groups. A group is the set of local pods (of one address family, for one
// direction) that the same policies select and, for ingress, whose named ports resolve to the
// same numbers: they share one chain and one interval map. Group names derive from that
// identity, never from the members, so pods coming and going only add and remove elements.
import { createHash } from 'node:crypto';
import type { NetworkPolicy } from '../model/types.js';
import { TwillError } from '../util/errors.js';
import { formatIp, type Family } from '../util/ip.js';
import { decompose, type Box } from './boxes.js';
import type { NftElement } from './model.js';
import { formatAddrRange, formatPortRange, formatProtoRange } from './nft-format.js';
import { parseIpCached, podKey, policyKey, type IndexedPod, type LocalEndpoint, type SnapshotIndex } from './snapshot.js';
import { namedPortsUsed, resolveNamedPort, ruleBoxes, rulesOf, type Dir, type RuleTarget } from './targets.js';

export const DIRS: Dir[] = ['egress', 'ingress'];
export const sfx = (f: Family): string => (f === 4 ? '' : '6');
const hashes = new Map<string, string>();
/** First 12 hex digits of sha256, remembered (group identities recur on every compile). */
export function hash12(s: string): string {
  let h = hashes.get(s);
  if (h === undefined) {
    if (hashes.size > 100_000) hashes.clear();
    h = createHash('sha256').update(s).digest('hex').slice(0, 12);
    hashes.set(s, h);
  }
  return h;
}

const joinedKeys = new WeakMap<NetworkPolicy[], string>();
/** `ns/a,ns/b` for a selection (selections are reused across compiles, so this is too). */
function keysOf(pols: NetworkPolicy[]): string {
  let v = joinedKeys.get(pols);
  if (v === undefined) {
    v = pols.map(policyKey).join(',');
    joinedKeys.set(pols, v);
  }
  return v;
}

const names = new WeakMap<NetworkPolicy[], Map<string, { identity: string; name: string }>>();
/** A group's identity and name, remembered per selection (hashing long identities adds up). */
function groupName(pols: NetworkPolicy[], head: string, sig: string): { identity: string; name: string } {
  let m = names.get(pols);
  if (!m) {
    m = new Map();
    names.set(pols, m);
  }
  let v = m.get(head + sig);
  if (!v) {
    const identity = `${head}${keysOf(pols)}|${sig}`;
    v = { identity, name: `${head.startsWith('egress') ? 'eg' : 'in'}_${hash12(identity)}` };
    m.set(head + sig, v);
  }
  return v;
}

const namedUsed = new WeakMap<NetworkPolicy[], { name: string; protocol: string }[]>();
function ingressNamedPorts(pols: NetworkPolicy[]): { name: string; protocol: string }[] {
  let v = namedUsed.get(pols);
  if (!v) {
    v = namedPortsUsed(pols, 'ingress');
    namedUsed.set(pols, v);
  }
  return v;
}

export interface Group {
  name: string;
  identity: string;
  dir: Dir;
  family: Family;
  /** Sorted by key. */
  policies: NetworkPolicy[];
  members: Set<string>;
  /** Named-port resolution of the members (ingress only): `name/PROTO` → port numbers. */
  named: Map<string, number[]>;
}

export interface Assignment {
  /** Sorted by name. */
  groups: Group[];
  /** `egress_groups`, `ingress_groups6`, … → elements (address : goto group) with the address's value, unsorted. */
  dispatch: Map<string, { v: bigint; e: NftElement }[]>;
  /** Elements of the endpoints sets: "iface" . address. */
  endpoints: Record<Family, NftElement[]>;
}

/** Sorts local endpoints into groups; `selecting` gives a pod's policies for one direction. */
export function assignGroups(idx: SnapshotIndex, eps: LocalEndpoint[], selecting: (pod: IndexedPod) => Record<Dir, NetworkPolicy[]>): Assignment {
  const groups = new Map<string, Group>();
  const dispatch = new Map<string, { v: bigint; e: NftElement }[]>();
  const endpoints: Record<Family, NftElement[]> = { 4: [], 6: [] };
  const seen = new Set<string>();
  for (const ep of [...eps].sort((a, b) => (a.hostIface + a.ip < b.hostIface + b.ip ? -1 : 1))) {
    const pod = idx.podsByKey.get(podKey(ep))!;
    const addr = parseIpCached(ep.ip)!;
    const ip = formatIp(addr);
    if (seen.has(ip)) continue; // the same endpoint listed twice
    seen.add(ip);
    endpoints[addr.family].push({ key: `"${ep.hostIface}" . ${ip}` });
    const sel = selecting(pod);
    for (const dir of DIRS) {
      const pols = sel[dir];
      if (pols.length === 0) continue;
      const named = new Map<string, number[]>();
      if (dir === 'ingress') {
        for (const np of ingressNamedPorts(pols)) named.set(`${np.name}/${np.protocol}`, resolveNamedPort(pod, np.name, np.protocol));
      }
      const sig = [...named.entries()].map(([k, v]) => `${k}=${v.join('+')}`).join(',');
      const { identity, name } = groupName(pols, `${dir}|${addr.family}|`, sig);
      let g = groups.get(name);
      if (g && g.identity !== identity) throw new TwillError('INTERNAL', `group name collision on ${name}`);
      if (!g) {
        g = { name, identity, dir, family: addr.family, policies: pols, members: new Set(), named };
        groups.set(name, g);
      }
      g.members.add(pod.key);
      const mapName = `${dir}_groups${sfx(addr.family)}`;
      const list = dispatch.get(mapName) ?? [];
      list.push({ v: addr.value, e: { key: ip, value: `goto ${name}` } });
      dispatch.set(mapName, list);
    }
  }
  return { groups: [...groups.values()].sort((a, b) => (a.name < b.name ? -1 : 1)), dispatch, endpoints };
}

/**
 * The elements of a group's interval map: every rule of every policy as boxes, made disjoint;
 * where rules of several policies overlap, the first policy in namespace/name order is credited.
 */
export function groupElements(g: Group, target: (p: NetworkPolicy, ri: number) => RuleTarget, chainOf: (p: NetworkPolicy) => string): NftElement[] {
  const boxes: Box[] = [];
  g.policies.forEach((p, label) => {
    rulesOf(p, g.dir).forEach((rule, ri) => {
      boxes.push(...ruleBoxes(target(p, ri), rule, g.dir, label, (name, proto) => g.named.get(`${name}/${proto}`) ?? []));
    });
  });
  return decompose(boxes).map((b) => ({
    key: `${formatAddrRange(g.family, b.dims[0]!)} . ${formatProtoRange(b.dims[1]!)} . ${formatPortRange(b.dims[2]!)}`,
    value: `goto ${chainOf(g.policies[b.label]!)}`,
  }));
}
