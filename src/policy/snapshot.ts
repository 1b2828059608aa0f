// The compile input: plain data, nothing live. The agent builds it from its datastore cache
// (`buildSnapshot`), the compiler and the evaluator both read it through `indexSnapshot`, which
// settles the few questions the raw data leaves open (duplicate IPs, namespace labels) once.
import type { Labels, Namespace, NetworkPolicy, Pod, PolicyType, Protocol } from '../model/types.js';
import { TwillError } from '../util/errors.js';
import { formatIp, tryParseIp, type Family, type IpAddr } from '../util/ip.js';
import { NAMESPACE_NAME_LABEL } from '../model/labels.js';
import { validateNetworkPolicy, type FieldError } from './validate.js';

export interface SnapshotNamespace {
  name: string;
  labels: Labels;
}

export interface SnapshotPort {
  name?: string;
  port: number;
  protocol: Protocol;
}

export interface SnapshotPod {
  namespace: string;
  name: string;
  labels: Labels;
  /** Pod-network addresses (IPv4 and/or IPv6). */
  ips: string[];
  /** The node the pod runs on. */
  node: string;
  /** Container ports, for named-port resolution. */
  ports: SnapshotPort[];
}

/** A pod on THIS node: one entry per address, with its host-side veth. */
export interface LocalEndpoint {
  namespace: string;
  name: string;
  ip: string;
  hostIface: string;
}

export interface PolicySnapshot {
  /** This node's name. */
  node: string;
  namespaces: SnapshotNamespace[];
  /** Every pod-network pod in the cluster (hostNetwork pods excluded). */
  pods: SnapshotPod[];
  /** Validated policies only (see buildSnapshot). */
  policies: NetworkPolicy[];
  localEndpoints: LocalEndpoint[];
}

const keys = new WeakMap<NetworkPolicy, string>();
export function policyKey(p: NetworkPolicy): string {
  let k = keys.get(p);
  if (k === undefined) {
    k = `${p.metadata.namespace}/${p.metadata.name}`;
    keys.set(p, k);
  }
  return k;
}

const parsed = new Map<string, IpAddr | null>();
/** tryParseIp, remembered: the same few thousand addresses are parsed on every compile. */
export function parseIpCached(text: string): IpAddr | undefined {
  let a = parsed.get(text);
  if (a === undefined) {
    if (parsed.size > 200_000) parsed.clear();
    a = tryParseIp(text) ?? null;
    parsed.set(text, a);
  }
  return a ?? undefined;
}
export const podKey = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`;

/** policyTypes with the API defaults: Ingress always, Egress only when egress rules exist. */
export function effectivePolicyTypes(p: NetworkPolicy): PolicyType[] {
  if (p.spec.policyTypes && p.spec.policyTypes.length > 0) return p.spec.policyTypes;
  return (p.spec.egress?.length ?? 0) > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

export interface IndexedPod extends SnapshotPod {
  key: string;
  addrs: IpAddr[];
}

export interface SnapshotIndex {
  node: string;
  /** Sorted by key. */
  pods: IndexedPod[];
  podsByKey: Map<string, IndexedPod>;
  podsByNamespace: Map<string, IndexedPod[]>;
  /** Normalised address text → the pod holding it. */
  podByIp: Map<string, IndexedPod>;
  /** Effective labels of every namespace named anywhere (always includes kubernetes.io/metadata.name). */
  namespaceLabels(name: string): Labels;
  namespaceNames: string[];
  /** Sorted by key `namespace/name`. */
  policies: NetworkPolicy[];
}

const keyCmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Indexes a snapshot. An address claimed by two pods (a stale datastore) belongs to the first in
 * `namespace/name` order; the other pod keeps its remaining addresses. Unparseable addresses are
 * dropped (the datastore validated them; this keeps compile total).
 */
export function indexSnapshot(s: PolicySnapshot): SnapshotIndex {
  const nsLabels = new Map<string, Labels>();
  for (const ns of s.namespaces) nsLabels.set(ns.name, { ...ns.labels, [NAMESPACE_NAME_LABEL]: ns.name });
  const podByIp = new Map<string, IndexedPod>();
  const pods: IndexedPod[] = [];
  // 30,000 pods are indexed on every change of the pod set, so an IndexedPod is built as one
  // object literal (no out-of-object properties) with exact-length arrays (an array grown by
  // push from empty reserves 17 slots), and keeps the snapshot's own strings where they are
  // already normal (a heap snapshot of the scale bench's agent put the old shape at ~880 bytes a pod).
  for (const p of [...s.pods].sort((a, b) => keyCmp(podKey(a), podKey(b)))) {
    const ips: string[] = [];
    const addrs: IpAddr[] = [];
    for (const text of p.ips) {
      const a = parseIpCached(text);
      if (!a) continue;
      const norm = formatIp(a);
      if (podByIp.has(norm) || ips.includes(norm)) continue;
      ips.push(norm === text ? text : norm);
      addrs.push(a);
    }
    // The snapshot's own list when indexing changed nothing (the common case): one array, not two.
    const same = ips.length === p.ips.length && ips.every((x, i) => x === p.ips[i]);
    const ip: IndexedPod = { namespace: p.namespace, name: p.name, labels: p.labels, ips: same ? p.ips : ips.slice(), node: p.node, ports: p.ports, key: podKey(p), addrs: addrs.slice() };
    for (const norm of ip.ips) podByIp.set(norm, ip);
    pods.push(ip);
  }
  const podsByNamespace = new Map<string, IndexedPod[]>();
  for (const p of pods) {
    const list = podsByNamespace.get(p.namespace) ?? [];
    list.push(p);
    podsByNamespace.set(p.namespace, list);
  }
  const names = new Set<string>([...nsLabels.keys(), ...podsByNamespace.keys(), ...s.policies.map((p) => p.metadata.namespace)]);
  return {
    node: s.node,
    pods,
    podsByKey: new Map(pods.map((p) => [p.key, p])),
    podsByNamespace,
    podByIp,
    namespaceLabels: (name) => nsLabels.get(name) ?? { [NAMESPACE_NAME_LABEL]: name },
    namespaceNames: [...names].sort(keyCmp),
    policies: [...s.policies].sort((a, b) => keyCmp(policyKey(a), policyKey(b))),
  };
}

export function familyOf(ip: string): Family | undefined {
  return tryParseIp(ip)?.family;
}

export interface BuildSnapshotInput {
  node: string;
  namespaces: Namespace[];
  pods: Pod[];
  policies: NetworkPolicy[];
  localEndpoints: LocalEndpoint[];
}

export interface RejectedPolicy {
  policy: string;
  errors: FieldError[];
}

// A snapshot pod is made once per Pod object: the agent's caches hand the same read-only objects
// to every build until a pod changes, so consecutive snapshots share their pods (and the
// compiler's fingerprints of them, memoised per object, stay valid), and pods with the same
// containers share one port list. Arrays are exact-length (map, not push: an array grown from
// empty reserves 17 slots, and there are 30,000 pods).
const snapshotPods = new WeakMap<Pod, SnapshotPod | null>();
const portLists = new WeakMap<Pod['spec']['containers'], SnapshotPort[]>();

function portsOf(containers: Pod['spec']['containers']): SnapshotPort[] {
  let ports = portLists.get(containers);
  if (ports === undefined) {
    ports = containers.flatMap((c) => (c.ports ?? []).map((cp) => ({ ...(cp.name ? { name: cp.name } : {}), port: cp.containerPort, protocol: cp.protocol ?? 'TCP' })));
    portLists.set(containers, ports);
  }
  return ports;
}

/** The pod as the snapshot holds it; undefined when it is not on the pod network or has finished. */
function snapshotPod(p: Pod): SnapshotPod | undefined {
  const hit = snapshotPods.get(p);
  if (hit !== undefined) return hit ?? undefined;
  let sp: SnapshotPod | null = null;
  const phase = p.status?.phase;
  if (!p.spec.hostNetwork && phase !== 'Succeeded' && phase !== 'Failed') {
    const ips = (p.status?.podIPs?.map((x) => x.ip) ?? (p.status?.podIP ? [p.status.podIP] : [])).filter((x) => tryParseIp(x));
    if (ips.length > 0) sp = { namespace: p.metadata.namespace, name: p.metadata.name, labels: p.metadata.labels ?? {}, ips: ips.slice(), node: p.spec.nodeName ?? '', ports: portsOf(p.spec.containers) };
  }
  snapshotPods.set(p, sp);
  return sp ?? undefined;
}

/**
 * Builds a snapshot from Kubernetes-shaped resources: keeps pods that have pod-network
 * addresses and are not finished, and only the policies that pass validation (the rest are
 * returned with their errors, for the policy's status).
 */
export function buildSnapshot(input: BuildSnapshotInput): { snapshot: PolicySnapshot; rejected: RejectedPolicy[] } {
  const rejected: RejectedPolicy[] = [];
  const policies: NetworkPolicy[] = [];
  for (const p of input.policies) {
    const errors = validateNetworkPolicy(p);
    if (errors.length) rejected.push({ policy: `${p.metadata?.namespace}/${p.metadata?.name}`, errors });
    else policies.push(p);
  }
  const pods: SnapshotPod[] = [];
  for (const p of input.pods) {
    const sp = snapshotPod(p);
    if (sp) pods.push(sp);
  }
  const namespaces = input.namespaces.map((n) => ({ name: n.metadata.name, labels: n.metadata.labels ?? {} }));
  return { snapshot: { node: input.node, namespaces, pods, policies, localEndpoints: input.localEndpoints }, rejected };
}

/** Throws when a local endpoint names a pod the snapshot does not have: the agent's bug, not the user's. */
export function checkLocalEndpoints(idx: SnapshotIndex, eps: LocalEndpoint[]): void {
  for (const ep of eps) {
    const pod = idx.podsByKey.get(podKey(ep));
    if (!pod) {
      throw new TwillError('INTERNAL', `local endpoint ${podKey(ep)} (${ep.ip} on ${ep.hostIface}) has no pod in the policy snapshot`, {
        details: 'build the snapshot from one consistent view of the datastore cache',
      });
    }
    const a = parseIpCached(ep.ip);
    if (!a || !pod.ips.includes(formatIp(a))) {
      throw new TwillError('INTERNAL', `local endpoint ${podKey(ep)} has address ${ep.ip}, which the pod does not hold (${pod.ips.join(', ') || 'none'})`);
    }
  }
}
