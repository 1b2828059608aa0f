// Random clusters for the differential test: namespaces, pods (some dual-stack, some sharing a
// node), named ports, and policies that use every feature of networking.k8s.io/v1. Seeded, so a
// failure is reproduced from its seed alone. Also the per-node snapshot the agent would build.
import { createHash } from 'node:crypto';
import type { LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Protocol } from '../../model/types.js';
import type { Flow, FlowEnd, FlowProtocol } from '../evaluate.js';
import type { LocalEndpoint, PolicySnapshot, SnapshotPod } from '../snapshot.js';

/** mulberry32: small, fast, good enough to drive test generation. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  subset<T>(xs: readonly T[], p = 0.5): T[] {
    return xs.filter(() => this.bool(p));
  }
}

export interface World {
  nodes: string[];
  /** Host (node) address of each node. */
  hostIps: Record<string, string>;
  namespaces: { name: string; labels: Record<string, string> }[];
  pods: SnapshotPod[];
  policies: NetworkPolicy[];
}

const NODES = ['n1', 'n2', 'n3'];
const NS_LABELS: Record<string, string[]> = { team: ['x', 'y'], env: ['prod', 'dev'] };
const POD_LABELS: Record<string, string[]> = { app: ['web', 'db', 'cli'], tier: ['fe', 'be'], v: ['1', '2'] };
const NAMED_PORTS: { name: string; port: number; protocol: Protocol }[] = [
  { name: 'http', port: 80, protocol: 'TCP' },
  { name: 'http', port: 8080, protocol: 'TCP' },
  { name: 'dns', port: 53, protocol: 'UDP' },
  { name: 'dns', port: 53, protocol: 'TCP' },
  { name: 'metrics', port: 9090, protocol: 'TCP' },
  { name: 'sctp-p', port: 7777, protocol: 'SCTP' },
];
export const PORTS = [53, 80, 81, 8080, 9090, 7777];
const CIDRS: { cidr: string; except: string[] }[] = [
  { cidr: '10.244.0.0/16', except: ['10.244.1.0/24', '10.244.2.4/30'] },
  { cidr: '10.244.1.0/24', except: ['10.244.1.2/32', '10.244.1.8/29'] },
  { cidr: '192.0.2.0/24', except: ['192.0.2.2/32'] },
  { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '192.0.2.0/25'] },
  { cidr: '10.0.0.0/8', except: [] },
  { cidr: 'fd00:10:244::/48', except: ['fd00:10:244:1::/64'] },
  { cidr: '::/0', except: ['fd00::/8'] },
];

function labelsFrom(rng: Rng, vocab: Record<string, string[]>, p = 0.6): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, vs] of Object.entries(vocab)) if (rng.bool(p)) out[k] = rng.pick(vs);
  return out;
}

function selector(rng: Rng, vocab: Record<string, string[]>): LabelSelector {
  if (rng.bool(0.25)) return {};
  const sel: LabelSelector = {};
  if (rng.bool(0.6)) sel.matchLabels = labelsFrom(rng, vocab, 0.4);
  if (rng.bool(0.4)) {
    sel.matchExpressions = [];
    for (let i = rng.int(1, 2); i > 0; i--) {
      const key = rng.pick(Object.keys(vocab));
      const op = rng.pick(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const);
      sel.matchExpressions.push(op === 'In' || op === 'NotIn' ? { key, operator: op, values: rng.subset(vocab[key]!, 0.6).concat(rng.pick(vocab[key]!)) } : { key, operator: op });
    }
  }
  return sel;
}

function peer(rng: Rng): NetworkPolicyPeer {
  const r = rng.next();
  if (r < 0.3) return { podSelector: selector(rng, POD_LABELS) };
  if (r < 0.5) return { namespaceSelector: selector(rng, NS_LABELS) };
  if (r < 0.7) return { podSelector: selector(rng, POD_LABELS), namespaceSelector: selector(rng, NS_LABELS) };
  const b = rng.pick(CIDRS);
  return { ipBlock: { cidr: b.cidr, ...(rng.bool(0.7) && b.except.length ? { except: rng.subset(b.except, 0.7) } : {}) } };
}

function port(rng: Rng): NetworkPolicyPort {
  const p: NetworkPolicyPort = {};
  if (rng.bool(0.6)) p.protocol = rng.pick(['TCP', 'UDP', 'SCTP'] as const);
  const r = rng.next();
  if (r < 0.35) p.port = rng.pick(PORTS);
  else if (r < 0.5) {
    p.port = rng.pick([53, 80, 8000]);
    p.endPort = p.port + rng.pick([0, 1, 100, 2000]);
  } else if (r < 0.85) p.port = rng.pick(['http', 'dns', 'metrics', 'sctp-p', 'nope']);
  return p;
}

function rules<K extends 'from' | 'to'>(rng: Rng, key: K): ({ ports?: NetworkPolicyPort[] } & Partial<Record<K, NetworkPolicyPeer[]>>)[] {
  const out: ({ ports?: NetworkPolicyPort[] } & Partial<Record<K, NetworkPolicyPeer[]>>)[] = [];
  for (let i = rng.int(1, 3); i > 0; i--) {
    const r = {} as { ports?: NetworkPolicyPort[] } & Partial<Record<K, NetworkPolicyPeer[]>>;
    const np = rng.next();
    if (np < 0.15) r[key] = [] as never;
    else if (np < 0.85) r[key] = Array.from({ length: rng.int(1, 2) }, () => peer(rng)) as never;
    const pp = rng.next();
    if (pp < 0.15) r.ports = [];
    else if (pp < 0.75) r.ports = Array.from({ length: rng.int(1, 2) }, () => port(rng));
    out.push(r);
  }
  return out;
}

export function randomPolicy(rng: Rng, ns: string, name: string): NetworkPolicy {
  const spec: NetworkPolicy['spec'] = { podSelector: selector(rng, POD_LABELS) };
  const t = rng.next();
  if (t < 0.25) spec.policyTypes = ['Ingress'];
  else if (t < 0.45) spec.policyTypes = ['Egress'];
  else if (t < 0.7) spec.policyTypes = ['Ingress', 'Egress'];
  const i = rng.next();
  if (i < 0.15) spec.ingress = [];
  else if (i < 0.7) spec.ingress = rules(rng, 'from');
  const e = rng.next();
  if (e < 0.15) spec.egress = [];
  else if (e < 0.65) spec.egress = rules(rng, 'to');
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: ns, name }, spec };
}

export function randomPod(rng: Rng, w: Pick<World, 'namespaces' | 'nodes'>, name: string, used: Set<string>): SnapshotPod {
  const node = rng.pick(w.nodes);
  const n = w.nodes.indexOf(node) + 1;
  let ip = '';
  for (let k = rng.int(2, 12); ; k++) {
    ip = `10.244.${n}.${k}`;
    if (!used.has(ip)) break;
  }
  used.add(ip);
  const ips = [ip];
  if (rng.bool(0.25)) ips.push(`fd00:10:244:${n}::${ip.split('.')[3]}`);
  const ports: SnapshotPod['ports'] = [];
  const names = new Set<string>();
  for (const p of rng.subset(NAMED_PORTS, 0.3)) {
    if (names.has(p.name)) continue;
    names.add(p.name);
    ports.push({ ...p });
  }
  if (rng.bool(0.2)) ports.push({ port: 8080, protocol: 'TCP' });
  return { namespace: rng.pick(w.namespaces).name, name, labels: labelsFrom(rng, POD_LABELS), ips, node, ports };
}

export function randomWorld(rng: Rng): World {
  const nodes = NODES.slice(0, rng.int(1, 3));
  const namespaces = ['ns-a', 'ns-b', 'ns-c'].slice(0, rng.int(1, 3)).map((name) => ({ name, labels: labelsFrom(rng, NS_LABELS) }));
  const used = new Set<string>();
  const pods = Array.from({ length: rng.int(2, 9) }, (_, i) => randomPod(rng, { namespaces, nodes }, `p${i}`, used));
  const policies = Array.from({ length: rng.int(0, 6) }, (_, i) => randomPolicy(rng, rng.pick(namespaces).name, `pol${i}`));
  const hostIps = Object.fromEntries(nodes.map((n, i) => [n, `192.0.2.${i + 1}`]));
  return { nodes, hostIps, namespaces, pods, policies };
}

/** A deterministic host veth name per pod, as the agent would derive it. */
export function ifaceOf(pod: { namespace: string; name: string }): string {
  return `twl${createHash('sha256').update(`${pod.namespace}/${pod.name}`).digest('hex').slice(0, 11)}`;
}

export function localEndpoints(w: World, node: string): LocalEndpoint[] {
  return w.pods.filter((p) => p.node === node).flatMap((p) => p.ips.map((ip) => ({ namespace: p.namespace, name: p.name, ip, hostIface: ifaceOf(p) })));
}

export function snapshotFor(w: World, node: string): PolicySnapshot {
  return { node, namespaces: w.namespaces, pods: w.pods, policies: w.policies, localEndpoints: localEndpoints(w, node) };
}

const EXTERNAL: Record<4 | 6, string[]> = { 4: ['192.0.2.77', '198.51.100.9', '10.1.0.5', '10.244.1.200', '10.244.9.9'], 6: ['2001:db8::7', 'fd00:10:244:1::99'] };

/** A random flow; `family` 6 only when some pod has an IPv6 address. */
export function randomFlow(rng: Rng, w: World): Flow {
  const v6pods = w.pods.filter((p) => p.ips.some((ip) => ip.includes(':')));
  const family: 4 | 6 = v6pods.length > 0 && rng.bool(0.2) ? 6 : 4;
  const pods = family === 6 ? v6pods : w.pods;
  const end = (): FlowEnd => {
    const r = rng.next();
    if (r < 0.7 && pods.length) {
      const p = rng.pick(pods);
      return { pod: `${p.namespace}/${p.name}`, ip: p.ips.find((ip) => ip.includes(':') === (family === 6))! };
    }
    if (r < 0.85 && family === 4) {
      const node = rng.pick(w.nodes);
      return { node, ip: w.hostIps[node]! };
    }
    return { ip: rng.pick(EXTERNAL[family]) };
  };
  const src = end();
  let dst = end();
  for (let k = 0; k < 3 && JSON.stringify(dst) === JSON.stringify(src); k++) dst = end();
  if (rng.bool(0.04)) dst = src;
  // Half the time aim at one of the destination pod's container ports, so port rules match.
  const dstPod = 'pod' in dst ? w.pods.find((p) => `${p.namespace}/${p.name}` === dst.pod) : undefined;
  if (dstPod && dstPod.ports.length > 0 && rng.bool(0.5)) {
    const cp = rng.pick(dstPod.ports);
    return { src, dst, protocol: cp.protocol, port: cp.port };
  }
  const protocol = rng.pick(['TCP', 'TCP', 'UDP', 'SCTP', 'ICMP'] as FlowProtocol[]);
  return { src, dst, protocol, port: rng.bool(0.85) ? rng.pick(PORTS) : rng.int(1, 65535) };
}

/** A small random change to a world: pods come and go or change labels, policies change. */
export function mutateWorld(rng: Rng, w: World): World {
  const next: World = { ...w, pods: [...w.pods], policies: [...w.policies], namespaces: w.namespaces.map((n) => ({ ...n })) };
  const used = new Set(next.pods.flatMap((p) => p.ips));
  for (let i = rng.int(1, 3); i > 0; i--) {
    const r = rng.next();
    if (r < 0.2 && next.pods.length > 1) next.pods.splice(rng.int(0, next.pods.length - 1), 1);
    else if (r < 0.4) next.pods.push(randomPod(rng, next, `q${rng.int(0, 1e6)}`, used));
    else if (r < 0.55 && next.pods.length) {
      const k = rng.int(0, next.pods.length - 1);
      next.pods[k] = { ...next.pods[k]!, labels: labelsFrom(rng, POD_LABELS) };
    } else if (r < 0.65) rng.pick(next.namespaces).labels = labelsFrom(rng, NS_LABELS);
    else if (r < 0.8 && next.policies.length) next.policies.splice(rng.int(0, next.policies.length - 1), 1);
    else if (r < 0.9 && next.policies.length) {
      const k = rng.int(0, next.policies.length - 1);
      const old = next.policies[k]!;
      next.policies[k] = randomPolicy(rng, old.metadata.namespace, old.metadata.name);
    } else next.policies.push(randomPolicy(rng, rng.pick(next.namespaces).name, `r${rng.int(0, 1e6)}`));
  }
  return next;
}
