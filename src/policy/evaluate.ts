// The reference semantics of NetworkPolicy: "is this flow allowed, and by which rule?". Written
// to be read against the API documentation, one flow at a time, with no precomputation; the
// compiler is tested against it (differential test) and `twill policy explain` prints it.
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from '../model/types.js';
import { TwillError } from '../util/errors.js';
import { cidrContains, formatIp, tryParseCidr, tryParseIp, type Family } from '../util/ip.js';
import { selectorMatches } from '../model/labels.js';
import { effectivePolicyTypes, indexSnapshot, policyKey, type IndexedPod, type PolicySnapshot, type SnapshotIndex } from './snapshot.js';

/** A flow end: a pod (by `namespace/name`), a node's own host network, or any other address. */
export type FlowEnd = { pod: string; ip?: string } | { node: string; ip: string } | { ip: string };

export type FlowProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMP';

export interface Flow {
  src: FlowEnd;
  dst: FlowEnd;
  protocol: FlowProtocol;
  /** Destination port (ignored for ICMP). */
  port?: number;
}

export type Direction = 'ingress' | 'egress';

export interface RuleRef {
  policy: string;
  direction: Direction;
  rule: number;
  /** Index in from/to; absent when the rule has no peers (all peers). */
  peer?: number;
  /** Index in ports; absent when the rule has no ports (all ports). */
  port?: number;
}

export type ResolvedEnd =
  | { kind: 'pod'; pod: string; ip: string; node: string }
  | { kind: 'host'; node: string; ip: string }
  | { kind: 'external'; ip: string };

export type SideReason = 'not-a-pod' | 'self' | 'node-local' | 'not-isolated' | 'allowed-by-rule' | 'no-rule-matched';

export interface SideVerdict {
  allowed: boolean;
  reason: SideReason;
  /** True when at least one policy selects the pod for this direction. */
  isolated: boolean;
  /** Policies selecting the pod for this direction, sorted. */
  policies: string[];
  /** Every rule (peer, port) that matches the flow, in sort order. */
  matches: RuleRef[];
  /** The first of `matches`: the one the dataplane's counters attribute the flow to. */
  deciding?: RuleRef;
}

export interface Verdict {
  allowed: boolean;
  src: ResolvedEnd;
  dst: ResolvedEnd;
  protocol: FlowProtocol;
  port?: number;
  /** The source pod's egress. */
  egress: SideVerdict;
  /** The destination pod's ingress. */
  ingress: SideVerdict;
  explanation: string;
}

export function formatRuleRef(r: RuleRef): string {
  const peers = r.direction === 'ingress' ? 'from' : 'to';
  return `${r.policy} ${r.direction}[${r.rule}]${r.peer !== undefined ? ` ${peers}[${r.peer}]` : ''}${r.port !== undefined ? ` ports[${r.port}]` : ''}`;
}

type End = { kind: 'pod'; pod: IndexedPod; ip: string } | { kind: 'host'; node: string; ip: string } | { kind: 'external'; ip: string };

function explicitIp(e: FlowEnd): string | undefined {
  return 'ip' in e ? e.ip : undefined;
}

function resolveEnd(idx: SnapshotIndex, e: FlowEnd, family: Family | undefined): End {
  if ('pod' in e) {
    const pod = idx.podsByKey.get(e.pod);
    if (!pod) throw new TwillError('NOT_FOUND', `pod ${e.pod} is not in the snapshot (or has no pod-network address)`);
    if (e.ip !== undefined) {
      const a = tryParseIp(e.ip);
      if (!a || !pod.ips.includes(formatIp(a))) throw new TwillError('VALIDATION', `${e.ip} is not an address of pod ${e.pod} (${pod.ips.join(', ')})`);
      return { kind: 'pod', pod, ip: formatIp(a) };
    }
    const a = pod.addrs.find((x) => family === undefined || x.family === family);
    if (!a) throw new TwillError('VALIDATION', `pod ${e.pod} has no IPv${family} address`);
    return { kind: 'pod', pod, ip: formatIp(a) };
  }
  const a = tryParseIp(e.ip);
  if (!a) throw new TwillError('VALIDATION', `"${e.ip}" is not an IP address`);
  const ip = formatIp(a);
  if ('node' in e) return { kind: 'host', node: e.node, ip };
  const pod = idx.podByIp.get(ip);
  return pod ? { kind: 'pod', pod, ip } : { kind: 'external', ip };
}

/** The address family of the flow: from any explicit address, else the first both pods share. */
function flowFamily(idx: SnapshotIndex, f: Flow): Family | undefined {
  for (const e of [f.src, f.dst]) {
    const ip = explicitIp(e);
    if (ip !== undefined) return tryParseIp(ip)?.family;
  }
  const fams = (e: FlowEnd): Family[] => ('pod' in e ? (idx.podsByKey.get(e.pod)?.addrs.map((a) => a.family) ?? []) : []);
  const s = fams(f.src);
  const d = fams(f.dst);
  return s.find((x) => d.includes(x)) ?? s[0] ?? d[0];
}

function peerMatches(idx: SnapshotIndex, peer: NetworkPolicyPeer, policyNs: string, other: End): boolean {
  if (peer.ipBlock) {
    const ip = tryParseIp(other.ip);
    const cidr = tryParseCidr(peer.ipBlock.cidr);
    if (!ip || !cidr || !cidrContains(cidr, ip)) return false;
    return !(peer.ipBlock.except ?? []).some((e) => {
      const ex = tryParseCidr(e);
      return ex !== undefined && cidrContains(ex, ip);
    });
  }
  if (other.kind !== 'pod') return false; // selectors select pods, never other addresses
  const pod = other.pod;
  const nsOk = peer.namespaceSelector ? selectorMatches(peer.namespaceSelector, idx.namespaceLabels(pod.namespace)) : pod.namespace === policyNs;
  const podOk = peer.podSelector ? selectorMatches(peer.podSelector, pod.labels) : true;
  return nsOk && podOk;
}

/** Named ports are looked up on the destination pod, with the rule's protocol. */
function portMatches(p: NetworkPolicyPort, protocol: FlowProtocol, port: number | undefined, dstPod: IndexedPod | undefined): boolean {
  if ((p.protocol ?? 'TCP') !== protocol) return false;
  if (p.port === undefined) return true;
  if (port === undefined) return false;
  if (typeof p.port === 'number') return port >= p.port && port <= (p.endPort ?? p.port);
  if (!dstPod) return false;
  return dstPod.ports.some((cp) => cp.name === p.port && cp.protocol === protocol && cp.port === port);
}

function ruleMatches(idx: SnapshotIndex, pol: NetworkPolicy, dir: Direction, other: End, flow: Flow, dstPod: IndexedPod | undefined): RuleRef[] {
  const out: RuleRef[] = [];
  const rules = dir === 'ingress' ? (pol.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })) : (pol.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
  rules.forEach((rule, ri) => {
    const peers = rule.peers ?? [];
    const peerIdx: (number | undefined)[] = peers.length === 0 ? [undefined] : peers.flatMap((p, i) => (peerMatches(idx, p, pol.metadata.namespace, other) ? [i] : []));
    const ports = rule.ports ?? [];
    const portIdx: (number | undefined)[] = ports.length === 0 ? [undefined] : ports.flatMap((p, i) => (portMatches(p, flow.protocol, flow.port, dstPod) ? [i] : []));
    for (const pe of peerIdx) {
      for (const po of portIdx) {
        out.push({ policy: policyKey(pol), direction: dir, rule: ri, ...(pe !== undefined ? { peer: pe } : {}), ...(po !== undefined ? { port: po } : {}) });
      }
    }
  });
  return out;
}

function evaluateSide(idx: SnapshotIndex, dir: Direction, subject: IndexedPod, other: End, flow: Flow, dstPod: IndexedPod | undefined): SideVerdict {
  const type = dir === 'ingress' ? 'Ingress' : 'Egress';
  const selecting = idx.policies.filter(
    (p) => p.metadata.namespace === subject.namespace && effectivePolicyTypes(p).includes(type) && selectorMatches(p.spec.podSelector, subject.labels),
  );
  const policies = selecting.map(policyKey);
  if (selecting.length === 0) return { allowed: true, reason: 'not-isolated', isolated: false, policies, matches: [] };
  const matches = selecting.flatMap((p) => ruleMatches(idx, p, dir, other, flow, dstPod));
  const deciding = matches[0];
  if (deciding) return { allowed: true, reason: 'allowed-by-rule', isolated: true, policies, matches, deciding };
  return { allowed: false, reason: 'no-rule-matched', isolated: true, policies, matches };
}

const exempt = (reason: SideReason): SideVerdict => ({ allowed: true, reason, isolated: false, policies: [], matches: [] });

/** Decides `flow` against every policy in `snapshot`. Throws when an end cannot be resolved. */
export function evaluate(snapshot: PolicySnapshot, flow: Flow): Verdict {
  return evaluateIndexed(indexSnapshot(snapshot), flow);
}

/** As `evaluate`, on an index built once (many flows against one snapshot). */
export function evaluateIndexed(idx: SnapshotIndex, flow: Flow): Verdict {
  const family = flowFamily(idx, flow);
  const src = resolveEnd(idx, flow.src, family);
  const dst = resolveEnd(idx, flow.dst, family);
  if (tryParseIp(src.ip)?.family !== tryParseIp(dst.ip)?.family) {
    throw new TwillError('VALIDATION', `source ${src.ip} and destination ${dst.ip} are of different IP families`);
  }
  const dstPod = dst.kind === 'pod' ? dst.pod : undefined;
  let egress: SideVerdict;
  let ingress: SideVerdict;
  if (src.kind === 'pod' && dst.kind === 'pod' && src.pod === dst.pod) {
    egress = exempt('self');
    ingress = exempt('self');
  } else {
    if (src.kind !== 'pod') egress = exempt('not-a-pod');
    else if (dst.kind === 'host' && dst.node === src.pod.node) egress = exempt('node-local');
    else egress = evaluateSide(idx, 'egress', src.pod, dst, flow, dstPod);
    if (dst.kind !== 'pod') ingress = exempt('not-a-pod');
    else if (src.kind === 'host' && src.node === dst.pod.node) ingress = exempt('node-local');
    else ingress = evaluateSide(idx, 'ingress', dst.pod, src, flow, dstPod);
  }
  const v: Omit<Verdict, 'explanation'> = {
    allowed: egress.allowed && ingress.allowed,
    src: publicEnd(src),
    dst: publicEnd(dst),
    protocol: flow.protocol,
    ...(flow.protocol !== 'ICMP' && flow.port !== undefined ? { port: flow.port } : {}),
    egress,
    ingress,
  };
  return { ...v, explanation: explainVerdictText(v) };
}

function publicEnd(e: End): ResolvedEnd {
  return e.kind === 'pod' ? { kind: 'pod', pod: e.pod.key, ip: e.ip, node: e.pod.node } : e;
}

export function describeEnd(e: ResolvedEnd): string {
  if (e.kind === 'pod') return `pod ${e.pod} (${e.ip})`;
  if (e.kind === 'host') return `node ${e.node} (${e.ip})`;
  return e.ip;
}

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

function sideText(dir: Direction, who: ResolvedEnd, s: SideVerdict): string {
  const name = describeEnd(who);
  switch (s.reason) {
    case 'not-a-pod':
      return `${dir === 'egress' ? 'The source' : 'The destination'} is not a pod, so no ${dir} policy applies.`;
    case 'self':
      return '';
    case 'node-local':
      return `${dir === 'egress' ? 'Egress' : 'Ingress'} is not filtered between a pod and its own node.`;
    case 'not-isolated':
      return `No policy selects ${name} for ${dir}, so its ${dir} is allowed.`;
    case 'allowed-by-rule':
      return `${cap(name)} is isolated for ${dir} by ${s.policies.join(', ')}; ${formatRuleRef(s.deciding!)} allows this flow${s.matches.length > 1 ? ` (${s.matches.length - 1} other rule(s) also match)` : ''}.`;
    case 'no-rule-matched':
      return `${cap(name)} is isolated for ${dir} by ${s.policies.join(', ')}, and none of their ${dir} rules allows this flow, so it is dropped.`;
  }
}

function explainVerdictText(v: Omit<Verdict, 'explanation'>): string {
  const what = `${describeEnd(v.src)} → ${describeEnd(v.dst)} ${v.protocol}${v.port !== undefined ? `/${v.port}` : ''}`;
  if (v.egress.reason === 'self') return `Allowed: ${what}. A pod may always reach itself.`;
  const parts = [sideText('egress', v.src, v.egress), sideText('ingress', v.dst, v.ingress)].filter(Boolean);
  return `${v.allowed ? 'Allowed' : 'Denied'}: ${what}. ${parts.join(' ')}`;
}
