// A small, readable cluster for golden files and unit tests: a shop (web → api → db), a
// kube-system DNS, a monitoring namespace, and policies that use each feature once.
import type { NetworkPolicy } from '../../model/types.js';
import type { PolicySnapshot, SnapshotPod } from '../snapshot.js';

export const pol = (ns: string, name: string, spec: NetworkPolicy['spec']): NetworkPolicy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace: ns, name },
  spec,
});

export const PODS: SnapshotPod[] = [
  { namespace: 'shop', name: 'web-1', labels: { app: 'web' }, ips: ['10.244.1.10'], node: 'n1', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
  { namespace: 'shop', name: 'web-2', labels: { app: 'web' }, ips: ['10.244.1.11'], node: 'n1', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
  { namespace: 'shop', name: 'api-1', labels: { app: 'api' }, ips: ['10.244.1.20', 'fd00:10:244:1::20'], node: 'n1', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  { namespace: 'shop', name: 'db-1', labels: { app: 'db' }, ips: ['10.244.2.30'], node: 'n2', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] },
  { namespace: 'kube-system', name: 'dns-1', labels: { 'k8s-app': 'kube-dns' }, ips: ['10.244.2.2'], node: 'n2', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] },
  { namespace: 'mon', name: 'prom-1', labels: { app: 'prom' }, ips: ['10.244.2.40'], node: 'n2', ports: [] },
];

export const POLICIES: NetworkPolicy[] = [
  pol('shop', 'default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
  pol('shop', 'allow-dns', {
    podSelector: {},
    policyTypes: ['Egress'],
    egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ port: 'dns', protocol: 'UDP' }, { port: 'dns-tcp' }] }],
  }),
  pol('shop', 'web', {
    podSelector: { matchLabels: { app: 'web' } },
    ingress: [{ from: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }], ports: [{ port: 'http' }] }],
    egress: [{ to: [{ podSelector: { matchLabels: { app: 'api' } } }], ports: [{ port: 'http' }] }],
  }),
  pol('shop', 'api', {
    podSelector: { matchLabels: { app: 'api' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 'http' }] }],
    egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }], ports: [{ port: 5432 }] }],
  }),
  pol('shop', 'metrics', {
    podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'mon' } } }], ports: [{ port: 9000, endPort: 9100 }, { protocol: 'SCTP' }] }],
  }),
];

/** Host veth of a local pod in the fixture: readable on purpose. */
export const iface = (name: string): string => `twl${name.replace(/-/g, '')}`.slice(0, 15);

export function shopSnapshot(over: Partial<PolicySnapshot> = {}): PolicySnapshot {
  const pods = over.pods ?? PODS;
  const node = over.node ?? 'n1';
  return {
    node,
    namespaces: [
      { name: 'shop', labels: { env: 'prod' } },
      { name: 'kube-system', labels: {} },
      { name: 'mon', labels: {} },
    ],
    pods,
    policies: POLICIES,
    localEndpoints: pods.filter((p) => p.node === node).flatMap((p) => p.ips.map((ip) => ({ namespace: p.namespace, name: p.name, ip, hostIface: iface(p.name) }))),
    ...over,
  };
}
