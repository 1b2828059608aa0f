// A flow record, with the field names Hubble users know (time, verdict, drop_reason, source,
// destination, l4, traffic_direction, policies, IP, Summary), and how one is made from what the
// kernel reported. Pure: the caller passes the clock and the policy context.
//
// Identities and policy names come from the same index and evaluator as `twill policy explain`
// (evaluateIndexed), so a record and an explanation of the same flow always name the same pods
// and policies. The kernel's own word — which NFLOG rule dropped or accepted the packet — decides
// the verdict of a drop and is kept in `kernel_rule`.
import { evaluateIndexed, type FlowProtocol, type SideVerdict, type Verdict } from '../policy/evaluate.js';
import type { CompileInfo } from '../policy/model.js';
import type { SnapshotIndex } from '../policy/snapshot.js';
import type { CtEvent, CtTuple } from '../dataplane/kernel/conntrack.js';
import type { NflogPacket } from '../dataplane/kernel/nflog.js';
import { isUnanswered } from './format.js';

export type FlowVerdict = 'FORWARDED' | 'DROPPED';
export type DropReason = 'POLICY_DENIED' | 'INVALID_SOURCE_IP';
export type TrafficDirection = 'INGRESS' | 'EGRESS';

export interface FlowEndpoint {
  /** pod, world (any other address); `node` names the pod's node. */
  kind: 'pod' | 'world';
  ip: string;
  namespace?: string;
  pod_name?: string;
  /** "key=value", sorted; a world end is ["reserved:world"]. */
  labels: string[];
  node_name?: string;
}

export interface FlowPolicy {
  namespace: string;
  name: string;
  direction: 'ingress' | 'egress';
  /** Index of the deciding rule in spec.ingress / spec.egress (allowed flows). */
  rule?: number;
  action: 'allow' | 'deny';
}

export interface FlowL4 {
  TCP?: { source_port: number; destination_port: number };
  UDP?: { source_port: number; destination_port: number };
  SCTP?: { source_port: number; destination_port: number };
  ICMPv4?: { type: number; code: number };
  ICMPv6?: { type: number; code: number };
  other?: { protocol: number };
}

export interface FlowRecord {
  /** This agent's sequence number of the record (the cursor of `observe -f`). */
  id: number;
  time: string;
  node_name: string;
  /**
   * new: a connection (for TCP: answered), or a TCP attempt not answered yet (`kernel_rule` "twill
   * U …", see isUnanswered); end: it ended (with counts); drop: a dropped packet.
   */
  event: 'new' | 'end' | 'drop';
  verdict: FlowVerdict;
  drop_reason?: DropReason;
  traffic_direction: TrafficDirection;
  IP: { source: string; destination: string; ipVersion: 'IPv4' | 'IPv6' };
  l4: FlowL4;
  source: FlowEndpoint;
  destination: FlowEndpoint;
  policies: FlowPolicy[];
  /** Per side, in `policy explain`'s words: "allowed by shop/web ingress[0]", "no policy selects the pod", … */
  policy_decision: { egress: string; ingress: string };
  /** The NFLOG rule that logged it ("twill D in_…", "twill R forward", "twill U forward"). */
  kernel_rule?: string;
  counters?: { packets: number; bytes: number; reply_packets: number; reply_bytes: number; duration_seconds?: number };
  conntrack_id?: number;
  Summary: string;
}

/** What a record is resolved against: the policy controller's current index and compile info. */
export interface FlowContext {
  node: string;
  index?: SnapshotIndex;
  info?: CompileInfo;
}

const PROTO: Record<number, FlowProtocol> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP', 1: 'ICMP', 58: 'ICMP' };

function l4Of(t: { family: 4 | 6; proto: number; srcPort?: number; dstPort?: number; icmpType?: number; icmpCode?: number }): FlowL4 {
  const ports = { source_port: t.srcPort ?? 0, destination_port: t.dstPort ?? 0 };
  switch (t.proto) {
    case 6:
      return { TCP: ports };
    case 17:
      return { UDP: ports };
    case 132:
      return { SCTP: ports };
    case 1:
      return { ICMPv4: { type: t.icmpType ?? 0, code: t.icmpCode ?? 0 } };
    case 58:
      return { ICMPv6: { type: t.icmpType ?? 0, code: t.icmpCode ?? 0 } };
  }
  return { other: { protocol: t.proto } };
}

const podLabels = new WeakMap<object, string[]>();

function endpoint(ctx: FlowContext, ip: string): FlowEndpoint {
  const pod = ctx.index?.podByIp.get(ip);
  if (!pod) return { kind: 'world', ip, labels: ['reserved:world'] };
  let labels = podLabels.get(pod);
  if (!labels) {
    labels = Object.entries(pod.labels)
      .map(([k, v]) => `${k}=${v}`)
      .sort();
    podLabels.set(pod, labels);
  }
  return { kind: 'pod', ip, namespace: pod.namespace, pod_name: pod.name, labels, node_name: pod.node };
}

const isLocalIp = (ctx: FlowContext, ip: string): boolean => ctx.index?.podByIp.get(ip)?.node === ctx.node;

// Verdicts and identities per index and flow key: connections repeat the same (source,
// destination, protocol, port) many times, and what a record says about them depends on nothing
// else. One shared, frozen `FlowIdentity` per key: the ring stores a reference to it instead of
// a copy per record. A new index (any change of pods, namespaces or policies) starts afresh; the
// ring keeps the identities its records were made with, so a record never changes after the fact.
// Nested maps keyed by the address strings themselves (the decoder hands out the same string for
// the same address, so their hashes are computed once) and a number for protocol and port: a
// lookup makes no key string.
interface IdentityCache {
  size: number;
  node: string;
  bySrc: Map<string, Map<string, Map<number, FlowIdentity>>>;
}
const identities = new WeakMap<SnapshotIndex, IdentityCache>();
const IDENTITY_CACHE = 10_000;

/** What a record says about its two ends and the policies between them (shared between records). */
export interface FlowIdentity {
  readonly IP: FlowRecord['IP'];
  readonly source: FlowEndpoint;
  readonly destination: FlowEndpoint;
  readonly srcLocal: boolean;
  readonly dstLocal: boolean;
  readonly policies: FlowPolicy[];
  readonly policy_decision: { egress: string; ingress: string };
}

function evaluate(ctx: FlowContext, t: { src: string; dst: string; proto: number; dstPort?: number }): Verdict | undefined {
  const protocol = PROTO[t.proto];
  if (!ctx.index || !protocol) return undefined;
  try {
    return evaluateIndexed(ctx.index, { src: { ip: t.src }, dst: { ip: t.dst }, protocol, ...(protocol !== 'ICMP' && t.dstPort !== undefined ? { port: t.dstPort } : {}) });
  } catch {
    // why: read-only annotation: a flow the evaluator cannot place has no verdict
    return undefined;
  }
}

function makeIdentity(ctx: FlowContext, t: Base): FlowIdentity {
  const source = endpoint(ctx, t.src);
  const destination = endpoint(ctx, t.dst);
  const srcLocal = source.kind === 'pod' && source.node_name === ctx.node;
  const dstLocal = destination.kind === 'pod' && destination.node_name === ctx.node;
  const v = evaluate(ctx, t);
  return {
    IP: { source: t.src, destination: t.dst, ipVersion: t.family === 4 ? 'IPv4' : 'IPv6' },
    source,
    destination,
    srcLocal,
    dstLocal,
    policies: [...policiesOf(v?.egress, 'egress'), ...policiesOf(v?.ingress, 'ingress')],
    policy_decision: { egress: sideDecision(v?.egress), ingress: sideDecision(v?.ingress) },
  };
}

/** The (cached, shared) identity of a flow: its ends, and the policies deciding it. */
export function identityOf(ctx: FlowContext, t: Base): FlowIdentity {
  if (!ctx.index) return makeIdentity(ctx, t);
  let cache = identities.get(ctx.index);
  if (!cache || cache.node !== ctx.node || cache.size >= IDENTITY_CACHE) identities.set(ctx.index, (cache = { size: 0, node: ctx.node, bySrc: new Map() }));
  let byDst = cache.bySrc.get(t.src);
  if (!byDst) cache.bySrc.set(t.src, (byDst = new Map()));
  let byPort = byDst.get(t.dst);
  if (!byPort) byDst.set(t.dst, (byPort = new Map()));
  const k = t.proto * 0x20000 + (t.proto === 1 || t.proto === 58 || t.dstPort === undefined ? 0x10000 : t.dstPort);
  let id = byPort.get(k);
  if (!id) {
    byPort.set(k, (id = makeIdentity(ctx, t)));
    cache.size++;
  }
  return id;
}

const split = (key: string): { namespace: string; name: string } => {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
};

/** A side's verdict in `policy explain`'s words. */
export function sideDecision(s: SideVerdict | undefined): string {
  if (!s) return 'unknown (no policy snapshot)';
  switch (s.reason) {
    case 'not-a-pod':
      return 'not a pod, no policy applies';
    case 'self':
      return 'allowed, a pod may always reach itself';
    case 'node-local':
      return 'allowed, traffic between a pod and its own node is never filtered';
    case 'not-isolated':
      return 'allowed, no policy selects the pod';
    case 'allowed-by-rule':
      return `allowed by ${s.deciding!.policy} ${s.deciding!.direction}[${s.deciding!.rule}]`;
    case 'no-rule-matched':
      return `denied, no rule of ${s.policies.join(', ')} allows it (default deny)`;
  }
}

function policiesOf(s: SideVerdict | undefined, dir: 'ingress' | 'egress'): FlowPolicy[] {
  if (!s?.isolated) return [];
  if (s.deciding) return [{ ...split(s.deciding.policy), direction: dir, rule: s.deciding.rule, action: 'allow' }];
  return s.policies.map((p) => ({ ...split(p), direction: dir, action: 'deny' as const }));
}

/** A record's 5-tuple: the conntrack tuple's shape (an NFLOG packet is decoded into the same). */
type Base = CtTuple;

/**
 * A record before the ring numbers it, in parts: the per-event fields, and a shared identity.
 * This is what the ring stores (compactly); `recordOf` turns it into the API's FlowRecord.
 */
export interface FlowParts {
  timeMs: number;
  node: string;
  event: FlowRecord['event'];
  verdict: FlowVerdict;
  drop_reason?: DropReason;
  traffic_direction: TrafficDirection;
  identity: FlowIdentity;
  tuple: Base;
  kernel_rule?: string;
  counters?: FlowRecord['counters'];
  conntrack_id?: number;
}

/** The API's record from its parts (every field a reader sees; shared parts are not copied). */
export function recordOf(p: FlowParts, id: number): FlowRecord {
  const r: FlowRecord = {
    id,
    time: new Date(p.timeMs).toISOString(),
    node_name: p.node,
    event: p.event,
    verdict: p.verdict,
    traffic_direction: p.traffic_direction,
    IP: p.identity.IP,
    l4: l4Of(p.tuple),
    source: p.identity.source,
    destination: p.identity.destination,
    policies: p.identity.policies,
    policy_decision: p.identity.policy_decision,
    Summary: '',
  };
  if (p.drop_reason) r.drop_reason = p.drop_reason;
  if (p.kernel_rule) r.kernel_rule = p.kernel_rule;
  if (p.counters) r.counters = p.counters;
  if (p.conntrack_id !== undefined) r.conntrack_id = p.conntrack_id;
  r.Summary = summary(r);
  return r;
}

function partsOf(ctx: FlowContext, t: Base, time: Date | number, rest: Pick<FlowParts, 'event' | 'verdict'> & Partial<FlowParts>, dirHint?: TrafficDirection): FlowParts | undefined {
  // Most events on a busy node may involve no local pod (the node's own connections): two map
  // lookups decide that, before any key or identity is made.
  if (!dirHint && !isLocalIp(ctx, t.src) && !isLocalIp(ctx, t.dst)) return undefined;
  const identity = identityOf(ctx, t);
  return { timeMs: typeof time === 'number' ? time : time.getTime(), node: ctx.node, traffic_direction: dirHint ?? (identity.srcLocal ? 'EGRESS' : 'INGRESS'), identity, tuple: t, ...rest };
}

const withoutId = (p: FlowParts | undefined): Omit<FlowRecord, 'id'> | undefined => {
  if (!p) return undefined;
  const { id: _, ...r } = recordOf(p, 0);
  return r;
};

function summary(r: Omit<FlowRecord, 'id'>): string {
  const l = r.l4;
  const proto = l.TCP ? 'TCP' : l.UDP ? 'UDP' : l.SCTP ? 'SCTP' : l.ICMPv4 ? 'ICMPv4' : l.ICMPv6 ? 'ICMPv6' : `proto ${l.other?.protocol}`;
  if (r.verdict === 'DROPPED') return `${proto} ${r.drop_reason === 'INVALID_SOURCE_IP' ? 'dropped: spoofed source address' : r.traffic_direction === 'INGRESS' ? r.policy_decision.ingress : r.policy_decision.egress}`;
  if (r.event === 'end') return `${proto} connection ended`;
  if (isUnanswered(r)) return `${proto} SYN sent again, no reply yet`;
  if (r.kernel_rule) return `${proto} new connection (its SYN reused a conntrack entry)`;
  return `${proto} new connection`;
}

/** A record's parts from a conntrack event, or undefined when neither end is a pod of this node. */
export function partsFromConntrack(ctx: FlowContext, ev: CtEvent, nowMs: number): FlowParts | undefined {
  // The hot path (every connection, twice): the object is built in one literal, no spread.
  const t = ev.orig;
  if (!isLocalIp(ctx, t.src) && !isLocalIp(ctx, t.dst)) return undefined;
  const identity = identityOf(ctx, t);
  const end = ev.type === 'destroy';
  const p: FlowParts = { timeMs: end && ev.stopNs ? ev.stopNs / 1e6 : nowMs, node: ctx.node, event: end ? 'end' : 'new', verdict: 'FORWARDED', traffic_direction: identity.srcLocal ? 'EGRESS' : 'INGRESS', identity, tuple: t };
  if (ev.id !== undefined) p.conntrack_id = ev.id;
  if (end && ev.origCounters) {
    p.counters = {
      packets: ev.origCounters.packets,
      bytes: ev.origCounters.bytes,
      reply_packets: ev.replyCounters?.packets ?? 0,
      reply_bytes: ev.replyCounters?.bytes ?? 0,
      ...(ev.startNs && ev.stopNs ? { duration_seconds: (ev.stopNs - ev.startNs) / 1e9 } : {}),
    };
  }
  return p;
}

/** A record from a conntrack event, or undefined when neither end is a pod of this node. */
export function flowFromConntrack(ctx: FlowContext, ev: CtEvent, now: Date): Omit<FlowRecord, 'id'> | undefined {
  return withoutId(partsFromConntrack(ctx, ev, now.getTime()));
}

/**
 * An NFLOG prefix: "twill <A|D|S|R|U> <chain>" (A: an accept, logged by tables of earlier versions;
 * R: a TCP SYN that reused an answered conntrack entry, U: one on an entry not answered yet, both
 * logged by the twill-flows table, ct-events.ts).
 */
export function parsePrefix(prefix: string): { kind: 'A' | 'D' | 'S' | 'R' | 'U'; chain: string } | undefined {
  const m = /^twill ([ADSRU]) ([A-Za-z0-9_]+)$/.exec(prefix);
  return m ? { kind: m[1] as 'A' | 'D' | 'S' | 'R' | 'U', chain: m[2]! } : undefined;
}


/**
 * A record's parts from an NFLOG packet: a drop ("twill D …", "twill S …"), a new connection
 * whose SYN reused an existing conntrack entry ("twill R …": the kernel made no NEW event for it,
 * see ct-events.ts), or an attempt with no reply yet ("twill U …": its SYN was sent again).
 * Anything else makes none.
 */
export function partsFromNflog(ctx: FlowContext, pkt: NflogPacket, nowMs: number): FlowParts | undefined {
  const p = parsePrefix(pkt.prefix);
  const h = pkt.headers;
  if (!p || !h || p.kind === 'A') return undefined;
  if (p.kind === 'R' || p.kind === 'U') return partsOf(ctx, h, nowMs, { event: 'new', verdict: 'FORWARDED', kernel_rule: pkt.prefix });
  if (p.kind === 'S') {
    const parts = partsOf(ctx, h, nowMs, { event: 'drop', verdict: 'DROPPED', drop_reason: 'INVALID_SOURCE_IP', kernel_rule: pkt.prefix }, 'EGRESS')!;
    // A spoofed packet is dropped before any policy: it names none.
    parts.identity = { ...parts.identity, policies: [] };
    return parts;
  }
  const group = ctx.info?.groups.find((g) => g.name === p.chain);
  const direction = group?.direction ?? (p.chain.startsWith('in_') ? 'ingress' : 'egress');
  const parts = partsOf(ctx, h, nowMs, { event: 'drop', verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', kernel_rule: pkt.prefix }, direction === 'ingress' ? 'INGRESS' : 'EGRESS');
  if (parts && group) {
    // The kernel's word on the dropping side: every policy of the group isolates the pod. The
    // identity is shared with other records, so this record gets its own copy.
    const deny: FlowPolicy[] = group.policies.map((k) => ({ ...split(k), direction, action: 'deny' }));
    parts.identity = { ...parts.identity, policies: [...parts.identity.policies.filter((x) => x.direction !== direction), ...deny] };
  }
  return parts;
}

/** A record from an NFLOG packet (a drop, or a SYN on a reused or unanswered conntrack entry); accepts ("twill A …") make none. */
export function flowFromNflog(ctx: FlowContext, pkt: NflogPacket, now: Date): Omit<FlowRecord, 'id'> | undefined {
  return withoutId(partsFromNflog(ctx, pkt, now.getTime()));
}
