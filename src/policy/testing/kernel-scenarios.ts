// The cluster and the policy sets the kernel test walks through, in order. Four pods live on the
// node under test (n1); a DNS pod of node n2 and an external host live behind the uplink.
import type { NetworkPolicy } from '../../model/types.js';
import type { PolicySnapshot, SnapshotPod } from '../snapshot.js';
import { pol } from './fixtures.js';
import { ifaceOf } from './world.js';

export const LOCAL_PODS: SnapshotPod[] = [
  { namespace: 'shop', name: 'web', labels: { app: 'web' }, ips: ['10.244.1.10'], node: 'n1', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
  { namespace: 'shop', name: 'api', labels: { app: 'api' }, ips: ['10.244.1.20'], node: 'n1', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  { namespace: 'shop', name: 'db', labels: { app: 'db' }, ips: ['10.244.1.30'], node: 'n1', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] },
  { namespace: 'mon', name: 'prom', labels: { app: 'prom' }, ips: ['10.244.1.40'], node: 'n1', ports: [] },
];
export const REMOTE_DNS: SnapshotPod = { namespace: 'kube-system', name: 'dns', labels: { 'k8s-app': 'kube-dns' }, ips: ['10.244.2.2'], node: 'n2', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] };
export const EXTERNAL_IP = '198.51.100.7';
export const OUTSIDE_IP = '192.0.2.100';

export const POD_TCP = [80, 5432, 8080];
export const POD_UDP = [53];

export function kernelSnapshot(policies: NetworkPolicy[]): PolicySnapshot {
  return {
    node: 'n1',
    namespaces: [
      { name: 'shop', labels: { team: 'shop' } },
      { name: 'mon', labels: { team: 'ops' } },
      { name: 'kube-system', labels: {} },
    ],
    pods: [...LOCAL_PODS, REMOTE_DNS],
    policies,
    localEndpoints: LOCAL_PODS.map((p) => ({ namespace: p.namespace, name: p.name, ip: p.ips[0]!, hostIface: ifaceOf(p) })),
  };
}

const denyShop = pol('shop', 'default-deny', { podSelector: {}, policyTypes: ['Ingress'] });
const webIn = pol('shop', 'web-in', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 'http' }] }] });
const apiIn = pol('shop', 'api-in', { podSelector: { matchLabels: { app: 'api' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 'http' }] }] });
const dbIn = pol('shop', 'db-in', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }, { namespaceSelector: { matchLabels: { team: 'ops' } } }], ports: [{ port: 5432 }] }] });
const egress = pol('shop', 'egress', {
  podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] },
  policyTypes: ['Egress'],
  egress: [
    { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ port: 'dns', protocol: 'UDP' }] },
    { to: [{ podSelector: {} }], ports: [{ port: 'http' }, { port: 5000, endPort: 6000 }] },
    { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '192.0.2.0/24'] } }], ports: [{ port: 80 }] },
  ],
});
const promIn = pol('mon', 'prom-in', {
  podSelector: {},
  ingress: [{ from: [{ ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.100.0/30'] } }, { namespaceSelector: { matchLabels: { team: 'shop' } }, podSelector: { matchLabels: { app: 'api' } } }] }],
});
const promEgressDeny = pol('mon', 'no-egress', { podSelector: {}, policyTypes: ['Egress'] });

/** Policy sets applied one after the other (each an incremental change of the previous). */
export const SCENARIOS: { name: string; policies: NetworkPolicy[] }[] = [
  { name: 'no policy', policies: [] },
  { name: 'shop ingress: default deny, named ports, pod and namespace peers', policies: [denyShop, webIn, apiIn, dbIn] },
  { name: 'plus shop egress: DNS to another node, endPort range, ipBlock except', policies: [denyShop, webIn, apiIn, dbIn, egress] },
  { name: 'plus mon: ipBlock and pod-AND-namespace ingress, default-deny egress', policies: [denyShop, webIn, apiIn, dbIn, egress, promIn, promEgressDeny] },
  { name: 'shop default deny removed: unions shrink', policies: [webIn, dbIn, egress, promIn] },
  { name: 'all policies deleted', policies: [] },
];
