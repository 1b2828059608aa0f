// A realistic cluster for the policy benchmark: 1,000 pods and 1,000 policies.
//   98 application namespaces × 10 pods (3 frontend, 3 backend, 2 db, 2 worker) and 10 policies
//   each: default-deny ingress and egress, DNS egress to kube-system, frontend ingress from the
//   internet (ipBlock with except, named port), backend from frontend (named port), db from
//   backend (numeric port), backend → db and frontend → backend egress (named ports), metrics
//   from the monitoring namespace (pod AND namespace selector, endPort range), and cross-namespace
//   access from frontends of namespaces of the same environment (matchExpressions).
//   kube-system (10 pods: DNS and others) and monitoring (10 pods: prometheus and exporters) with
//   10 policies each.
// Pod addresses come from 10.244.0.0/22, handed out in a seeded shuffled order (pods of one
// deployment rarely get neighbouring addresses in a real cluster).
import type { NetworkPolicy } from '../../src/model/types.js';
import type { PolicySnapshot, SnapshotPod } from '../../src/policy/index.js';
import { Rng } from '../../src/policy/testing/world.js';

const pol = (ns: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: ns, name }, spec });
const ENVS = ['prod', 'staging', 'dev'];

export interface BenchCluster {
  namespaces: PolicySnapshot['namespaces'];
  pods: SnapshotPod[];
  policies: NetworkPolicy[];
}

function appPolicies(ns: string, env: string): NetworkPolicy[] {
  const app = (a: string) => ({ matchLabels: { tier: a } });
  return [
    pol(ns, 'default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }),
    pol(ns, 'default-deny-egress', { podSelector: {}, policyTypes: ['Egress'] }),
    pol(ns, 'allow-dns', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] }],
    }),
    pol(ns, 'frontend-from-internet', { podSelector: app('frontend'), ingress: [{ from: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }], ports: [{ port: 'http' }] }] }),
    pol(ns, 'backend-from-frontend', { podSelector: app('backend'), ingress: [{ from: [{ podSelector: app('frontend') }], ports: [{ port: 'http' }, { port: 'grpc' }] }] }),
    pol(ns, 'db-from-backend', { podSelector: app('db'), ingress: [{ from: [{ podSelector: app('backend') }, { podSelector: app('worker') }], ports: [{ port: 5432 }] }] }),
    pol(ns, 'backend-egress', { podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend', 'worker'] }] }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: app('db') }], ports: [{ port: 5432 }] }, { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }], ports: [{ port: 443 }] }] }),
    pol(ns, 'frontend-egress', { podSelector: app('frontend'), policyTypes: ['Egress'], egress: [{ to: [{ podSelector: app('backend') }], ports: [{ port: 'http' }, { port: 'grpc' }] }] }),
    pol(ns, 'metrics-from-monitoring', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'monitoring' } }, podSelector: { matchLabels: { app: 'prometheus' } } }], ports: [{ port: 9000, endPort: 9200 }] }],
    }),
    pol(ns, 'backend-from-same-env', {
      podSelector: app('backend'),
      ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: [env] }, { key: 'team', operator: 'NotIn', values: ['monitoring'] }] }, podSelector: app('frontend') }], ports: [{ port: 'http' }] }],
    }),
  ];
}

function infraPolicies(ns: string): NetworkPolicy[] {
  return Array.from({ length: 10 }, (_, i) =>
    pol(ns, `infra-${i}`, {
      podSelector: { matchLabels: { component: `c${i}` } },
      ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: 8000 + i }, { protocol: 'UDP', port: 53 }] }],
      egress: i % 2 === 0 ? [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }] : [{ ports: [{ port: 443 }] }],
    }),
  );
}

/** The benchmark cluster. `nodes` nodes share the pods round-robin; node names are n0, n1, … */
export function benchCluster(nodes = 1, seed = 42): BenchCluster {
  const rng = new Rng(seed);
  const namespaces: PolicySnapshot['namespaces'] = [
    { name: 'kube-system', labels: { team: 'platform' } },
    { name: 'monitoring', labels: { team: 'monitoring' } },
  ];
  const specs: Omit<SnapshotPod, 'ips' | 'node'>[] = [];
  for (let i = 0; i < 10; i++) {
    specs.push({ namespace: 'kube-system', name: `sys-${i}`, labels: i < 2 ? { 'k8s-app': 'kube-dns', component: `c${i}` } : { component: `c${i}` }, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] });
    specs.push({ namespace: 'monitoring', name: `mon-${i}`, labels: i < 2 ? { app: 'prometheus', component: `c${i}` } : { component: `c${i}` }, ports: [{ name: 'metrics', port: 9090, protocol: 'TCP' }] });
  }
  const policies: NetworkPolicy[] = [...infraPolicies('kube-system'), ...infraPolicies('monitoring')];
  const tiers: [string, number, SnapshotPod['ports']][] = [
    ['frontend', 3, [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9100, protocol: 'TCP' }]],
    ['backend', 3, [{ name: 'http', port: 8000, protocol: 'TCP' }, { name: 'grpc', port: 9090, protocol: 'TCP' }]],
    ['db', 2, [{ name: 'pg', port: 5432, protocol: 'TCP' }]],
    ['worker', 2, [{ name: 'metrics', port: 9100, protocol: 'TCP' }]],
  ];
  for (let n = 0; n < 98; n++) {
    const ns = `app-${String(n).padStart(2, '0')}`;
    const env = ENVS[n % 3]!;
    namespaces.push({ name: ns, labels: { team: `team-${n % 20}`, env } });
    for (const [tier, count, ports] of tiers) {
      for (let k = 0; k < count; k++) specs.push({ namespace: ns, name: `${tier}-${k}`, labels: { tier, app: `${ns}-${tier}`, version: `v${k % 2}` }, ports });
    }
    policies.push(...appPolicies(ns, env));
  }
  const order = specs.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const pods = specs.map((s, i) => {
    const a = 2 + order[i]!;
    return { ...s, ips: [`10.244.${a >> 8}.${a & 255}`], node: `n${i % nodes}` };
  });
  return { namespaces, pods, policies };
}

/** A snapshot for node `node`: its pods get (fake) host veth names; `extra` are real bench pods. */
export function benchSnapshot(c: BenchCluster, node: string, extra: { pod: SnapshotPod; iface: string }[] = []): PolicySnapshot {
  const pods = [...c.pods, ...extra.map((e) => e.pod)];
  const local = c.pods.filter((p) => p.node === node).map((p, i) => ({ namespace: p.namespace, name: p.name, ip: p.ips[0]!, hostIface: `twlb${i.toString(16).padStart(8, '0')}` }));
  const real = extra.map((e) => ({ namespace: e.pod.namespace, name: e.pod.name, ip: e.pod.ips[0]!, hostIface: e.iface }));
  const namespaces = [...c.namespaces, ...extra.filter((e) => !c.namespaces.some((n) => n.name === e.pod.namespace)).map((e) => ({ name: e.pod.namespace, labels: {} }))];
  return { node, namespaces: [...new Map(namespaces.map((n) => [n.name, n])).values()], pods, policies: c.policies, localEndpoints: [...local, ...real] };
}
