// What one policy rule allows, as boxes (address × protocol × port) for one address family.
// Everything here is independent of which local pod the rule is compiled for, except ingress
// named ports, which the caller resolves against the destination pod and passes in.
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from '../model/types.js';
import { tryParseCidr, cidrLast, type Family } from '../util/ip.js';
import { mergeRanges, subtractRanges, type Box, type Range } from './boxes.js';
import { selectorMatches } from '../model/labels.js';
import { ALL_PORTS, ALL_PROTOS, fullRange, PROTO_NUMBER } from './nft-format.js';
import type { IndexedPod, SnapshotIndex } from './snapshot.js';

export type Dir = 'ingress' | 'egress';

export interface PodAddr {
  addr: bigint;
  pod: IndexedPod;
}

/** The addresses a rule's peers cover, and which of them are pod addresses (for named ports). */
export interface RuleTarget {
  ranges: Range[];
  podAddrs: PodAddr[];
}

export interface RuleSpec {
  peers: NetworkPolicyPeer[];
  ports: NetworkPolicyPort[];
}

export function rulesOf(p: NetworkPolicy, dir: Dir): RuleSpec[] {
  return dir === 'ingress'
    ? (p.spec.ingress ?? []).map((r) => ({ peers: r.from ?? [], ports: r.ports ?? [] }))
    : (p.spec.egress ?? []).map((r) => ({ peers: r.to ?? [], ports: r.ports ?? [] }));
}

function podsOfPeer(idx: SnapshotIndex, peer: NetworkPolicyPeer, policyNs: string): IndexedPod[] {
  const namespaces = peer.namespaceSelector
    ? idx.namespaceNames.filter((n) => selectorMatches(peer.namespaceSelector!, idx.namespaceLabels(n)))
    : [policyNs];
  const out: IndexedPod[] = [];
  for (const ns of namespaces) {
    for (const pod of idx.podsByNamespace.get(ns) ?? []) {
      if (!peer.podSelector || selectorMatches(peer.podSelector, pod.labels)) out.push(pod);
    }
  }
  return out;
}

function ipBlockRanges(peer: NetworkPolicyPeer, family: Family): Range[] {
  const cidr = tryParseCidr(peer.ipBlock!.cidr);
  if (!cidr || cidr.family !== family) return [];
  const holes: Range[] = [];
  for (const e of peer.ipBlock!.except ?? []) {
    const ex = tryParseCidr(e);
    if (ex && ex.family === family) holes.push([ex.base, cidrLast(ex)]);
  }
  return subtractRanges([cidr.base, cidrLast(cidr)], holes);
}

/** The entries of `sortedAddrs` inside the sorted, disjoint `ranges`. */
function podAddrsIn(sortedAddrs: PodAddr[], ranges: Range[]): PodAddr[] {
  const out: PodAddr[] = [];
  let i = 0;
  for (const [lo, hi] of ranges) {
    while (i < sortedAddrs.length && sortedAddrs[i]!.addr < lo) i++;
    while (i < sortedAddrs.length && sortedAddrs[i]!.addr <= hi) out.push(sortedAddrs[i++]!);
  }
  return out;
}

/**
 * Addresses covered by a rule's peers (an empty peer list covers every address). `allPodAddrs`
 * is every pod address of the family, sorted.
 */
export function ruleTarget(idx: SnapshotIndex, rule: RuleSpec, policyNs: string, family: Family, allPodAddrs: PodAddr[]): RuleTarget {
  if (rule.peers.length === 0) return { ranges: [fullRange(family)], podAddrs: allPodAddrs };
  const ranges: Range[] = [];
  const podAddrs = new Map<bigint, IndexedPod>();
  let blocks: Range[] = [];
  for (const peer of rule.peers) {
    if (peer.ipBlock) {
      blocks = blocks.concat(ipBlockRanges(peer, family));
      continue;
    }
    for (const pod of podsOfPeer(idx, peer, policyNs)) {
      for (const a of pod.addrs) {
        if (a.family !== family) continue;
        ranges.push([a.value, a.value]);
        podAddrs.set(a.value, pod);
      }
    }
  }
  if (blocks.length > 0) {
    const merged = mergeRanges(blocks);
    for (const pa of podAddrsIn(allPodAddrs, merged)) podAddrs.set(pa.addr, pa.pod);
    ranges.push(...merged);
  }
  return { ranges: mergeRanges(ranges), podAddrs: [...podAddrs.entries()].map(([addr, pod]) => ({ addr, pod })) };
}

const protoOf = (p: NetworkPolicyPort): bigint => BigInt(PROTO_NUMBER[p.protocol ?? 'TCP']!);

/** Port numbers a named port resolves to on `pod` (usually zero or one). */
export function resolveNamedPort(pod: IndexedPod, name: string, protocol: string): number[] {
  return pod.ports.filter((cp) => cp.name === name && cp.protocol === protocol).map((cp) => cp.port);
}

/**
 * Boxes for one rule. `ingressNamed` resolves a named port against the destination pod for
 * ingress rules; egress named ports are resolved against each destination pod in the target.
 */
export function ruleBoxes(target: RuleTarget, rule: RuleSpec, dir: Dir, label: number, ingressNamed: (name: string, proto: string) => number[]): Box[] {
  const out: Box[] = [];
  const cover = (protos: Range, ports: Range): void => {
    for (const r of target.ranges) out.push({ dims: [r, protos, ports], label });
  };
  if (rule.ports.length === 0) {
    cover(ALL_PROTOS, ALL_PORTS);
    return out;
  }
  for (const p of rule.ports) {
    const proto = protoOf(p);
    if (p.port === undefined) cover([proto, proto], ALL_PORTS);
    else if (typeof p.port === 'number') cover([proto, proto], [BigInt(p.port), BigInt(p.endPort ?? p.port)]);
    else if (dir === 'ingress') {
      for (const n of ingressNamed(p.port, p.protocol ?? 'TCP')) cover([proto, proto], [BigInt(n), BigInt(n)]);
    } else {
      for (const { addr, pod } of target.podAddrs) {
        for (const n of resolveNamedPort(pod, p.port, p.protocol ?? 'TCP')) out.push({ dims: [[addr, addr], [proto, proto], [BigInt(n), BigInt(n)]], label });
      }
    }
  }
  return out;
}

/** The named ports (name/protocol) a set of policies uses in rules of one direction, sorted. */
export function namedPortsUsed(policies: NetworkPolicy[], dir: Dir): { name: string; protocol: string }[] {
  const seen = new Map<string, { name: string; protocol: string }>();
  for (const p of policies) {
    for (const r of rulesOf(p, dir)) {
      for (const port of r.ports) {
        if (typeof port.port === 'string') seen.set(`${port.port}/${port.protocol ?? 'TCP'}`, { name: port.port, protocol: port.protocol ?? 'TCP' });
      }
    }
  }
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}
