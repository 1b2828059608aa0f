// Random but valid NetworkPolicies over the x/y/z cluster, for the differential test against the
// lab: selectors with labels and every expression operator, ipBlocks around the lab's real pod
// addresses (with except), numeric, named and ranged ports, every protocol, ingress and egress.
// Also random extra labels, so Exists/DoesNotExist and label updates have something to bite on.
// Pure and seeded: the same seed and addresses give the same round.
import type { LabelSelector, LabelSelectorRequirement, Namespace, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Pod, PolicyType } from '../../../src/model/types.js';
import { Rng } from '../../../src/policy/testing/world.js';
import { formatCidr, parseCidr } from '../../../src/util/ip.js';

export { Rng };

export interface RandomCluster {
  /** `ns/name` → address. */
  ips: ReadonlyMap<string, string>;
  /** The pool every pod address is in. */
  pool: string;
}

/** Extra labels for one round: a `color` on some pods, a `team` on some namespaces. */
export interface RoundLabels {
  pods: Map<string, Record<string, string>>;
  namespaces: Map<string, Record<string, string>>;
}

const NAMESPACES = ['x', 'y', 'z'];
const POD_NAMES = ['a', 'b', 'c'];
const NAMED = ['serve-80-tcp', 'serve-81-tcp', 'serve-80-udp', 'serve-81-udp'];

export function randomLabels(rng: Rng, cluster: RandomCluster): RoundLabels {
  const pods = new Map<string, Record<string, string>>();
  for (const p of cluster.ips.keys()) if (rng.bool(0.5)) pods.set(p, { color: rng.pick(['red', 'blue']) });
  const namespaces = new Map<string, Record<string, string>>();
  for (const n of NAMESPACES) if (rng.bool(0.4)) namespaces.set(n, { team: rng.pick(['t1', 't2']) });
  return { pods, namespaces };
}

function expression(rng: Rng, kind: 'pod' | 'ns'): LabelSelectorRequirement {
  const [key, values] = kind === 'pod' ? rng.pick([['pod', POD_NAMES], ['color', ['red', 'blue']]] as const) : rng.pick([['ns', NAMESPACES], ['team', ['t1', 't2']], ['kubernetes.io/metadata.name', NAMESPACES]] as const);
  const operator = rng.pick(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const);
  if (operator === 'Exists' || operator === 'DoesNotExist') return { key, operator };
  const vs = rng.subset(values, 0.5);
  return { key, operator, values: vs.length ? vs : [rng.pick(values)] };
}

function selector(rng: Rng, kind: 'pod' | 'ns'): LabelSelector {
  switch (rng.int(0, 4)) {
    case 0:
      return {};
    case 1:
      return kind === 'pod' ? { matchLabels: { pod: rng.pick(POD_NAMES) } } : { matchLabels: { ns: rng.pick(NAMESPACES) } };
    case 2:
      return kind === 'pod' ? { matchLabels: { color: rng.pick(['red', 'blue']) } } : { matchLabels: { 'kubernetes.io/metadata.name': rng.pick(NAMESPACES) } };
    case 3:
      return { matchExpressions: [expression(rng, kind)] };
    default:
      return { matchLabels: kind === 'pod' ? { pod: rng.pick(POD_NAMES) } : { team: rng.pick(['t1', 't2']) }, matchExpressions: [expression(rng, kind)] };
  }
}

const host = (ip: string) => `${ip}/32`;
const net = (ip: string, prefix: number) => formatCidr(parseCidr(`${ip}/${prefix}`));

function ipBlock(rng: Rng, c: RandomCluster): NetworkPolicyPeer {
  const pods = [...c.ips.keys()];
  const ip = c.ips.get(rng.pick(pods))!;
  switch (rng.int(0, 4)) {
    case 0:
      return { ipBlock: { cidr: host(ip) } };
    case 1: {
      // A node's block, maybe without one of its pods.
      const block = net(ip, 26);
      const inside = [...c.ips.values()].filter((x) => net(x, 26) === block);
      return { ipBlock: rng.bool() ? { cidr: block, except: [host(rng.pick(inside))] } : { cidr: block } };
    }
    case 2: {
      const except = [...new Set(rng.subset([...c.ips.values()], 0.2).map(host))];
      return { ipBlock: except.length ? { cidr: c.pool, except } : { cidr: c.pool } };
    }
    case 3:
      return { ipBlock: { cidr: c.pool, except: [net(ip, 26)] } };
    default:
      return { ipBlock: { cidr: '192.0.2.0/24' } }; // the underlay: holds no pod
  }
}

function peer(rng: Rng, c: RandomCluster): NetworkPolicyPeer {
  switch (rng.int(0, 3)) {
    case 0:
      return { podSelector: selector(rng, 'pod') };
    case 1:
      return { namespaceSelector: selector(rng, 'ns') };
    case 2:
      return { podSelector: selector(rng, 'pod'), namespaceSelector: selector(rng, 'ns') };
    default:
      return ipBlock(rng, c);
  }
}

function port(rng: Rng): NetworkPolicyPort {
  const protocol = rng.pick([undefined, 'TCP', 'UDP', 'SCTP', 'TCP', 'UDP'] as const);
  const p: NetworkPolicyPort = protocol ? { protocol } : {};
  switch (rng.int(0, 3)) {
    case 0:
      return { ...p, port: rng.pick([80, 81]) };
    case 1:
      return { ...p, port: rng.pick(NAMED) };
    case 2: {
      const [from, to] = rng.pick([[80, 81], [70, 80], [81, 90], [79, 79], [82, 100]] as const);
      return { ...p, port: from, endPort: to };
    }
    default:
      return protocol ? p : { protocol: rng.pick(['TCP', 'UDP'] as const) };
  }
}

function rules<K extends 'from' | 'to'>(rng: Rng, c: RandomCluster, peers: K): ({ [P in K]?: NetworkPolicyPeer[] } & { ports?: NetworkPolicyPort[] })[] {
  return Array.from({ length: rng.int(0, 2) }, () => {
    const r: { [P in K]?: NetworkPolicyPeer[] } & { ports?: NetworkPolicyPort[] } = {};
    if (rng.bool(0.75)) r[peers] = Array.from({ length: rng.int(1, 2) }, () => peer(rng, c)) as never;
    if (rng.bool(0.6)) r.ports = Array.from({ length: rng.int(1, 2) }, () => port(rng));
    return r;
  });
}

export function randomPolicy(rng: Rng, c: RandomCluster, name: string, namespace = rng.pick(NAMESPACES)): NetworkPolicy {
  const types = rng.pick([undefined, ['Ingress'], ['Egress'], ['Ingress', 'Egress']] as (PolicyType[] | undefined)[]);
  const ingress = rules(rng, c, 'from');
  const egress = rules(rng, c, 'to');
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec: {
      podSelector: selector(rng, 'pod'),
      ...(types ? { policyTypes: types } : {}),
      ...(ingress.length || rng.bool(0.3) ? { ingress } : {}),
      ...(egress.length || rng.bool(0.3) ? { egress } : {}),
    },
  };
}

/** The Pod and Namespace objects of cluster.yaml with a round's extra labels added. */
export function labelled(base: { pods: Pod[]; namespaces: Namespace[] }, l: RoundLabels): { pods: Pod[]; namespaces: Namespace[] } {
  return {
    pods: base.pods.map((p) => {
      const extra = l.pods.get(`${p.metadata.namespace}/${p.metadata.name}`);
      return extra ? { ...p, metadata: { ...p.metadata, labels: { ...p.metadata.labels, ...extra } } } : p;
    }),
    namespaces: base.namespaces.map((n) => {
      const extra = l.namespaces.get(n.metadata.name);
      return extra ? { ...n, metadata: { ...n.metadata, labels: { ...n.metadata.labels, ...extra } } } : n;
    }),
  };
}
