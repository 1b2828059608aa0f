// The simulated cluster, as API objects only: Nodes, their TwillNodes and IPAMBlocks (as if their
// agents ran), Pods spread over them with the addresses their agents published at ADD, and
// NetworkPolicies. Written with bounded concurrency over keep-alive connections.
import type { KubeClient } from '../../src/datastore/kubernetes/client.js';
import { LEASE_LABEL, POD_IPS_ANNOTATION } from '../../src/datastore/kubernetes/resources.js';
import { TWILL_API } from '../../src/model/types.js';

export const POOL = '10.64.0.0/14';
export const BLOCK_PREFIX = 24;
export const SELF = 'ks-node-0';
/** Node i's underlay address (node 0: the agent's own, on its dummy interface). */
export const underlayIp = (i: number): string => `198.18.${(i + 1) >> 8}.${(i + 1) & 255}`;
export const SELF_IP = underlayIp(0);

export interface Scale {
  nodes: number;
  pods: number;
  policies: number;
  namespaces: number;
}

const nodeName = (i: number): string => `ks-node-${i}`;
/** Node i holds block 10.64.0.0/14's i-th /24 (node 0, the agent under test, claims its own). */
const blockOf = (i: number): string => `10.${64 + (i >> 8)}.${i & 255}.0/24`;
const podIp = (node: number, k: number): string => `10.${64 + (node >> 8)}.${node & 255}.${2 + (k % 250)}`;

async function pool<T>(items: T[], concurrency: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => i + from);

export async function populate(c: KubeClient, s: Scale, progress: (msg: string) => void): Promise<Record<string, number>> {
  const post = (path: string, body: unknown, what: string): Promise<unknown> => c.request(path, { method: 'POST', body, what });
  const t = (): number => performance.now();
  const took: Record<string, number> = {};
  let t0 = t();
  await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'twill-system' } }, 'namespace');
  await pool(range(s.namespaces), 16, (i) => post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ks-${i}`, labels: { team: `t${i % 10}` } } }, 'namespace'));
  await post('/apis/twill.dev/v1alpha1/clusterconfigs', {
    apiVersion: TWILL_API,
    kind: 'ClusterConfig',
    metadata: { name: 'default' },
    spec: { pool: POOL, blockPrefix: BLOCK_PREFIX, backend: 'vxlan', vxlan: { vni: 4096, port: 4789, directRouting: false }, natOutgoing: true, blockGraceSeconds: 600 },
  }, 'cluster config');
  took['namespacesMs'] = t() - t0;

  t0 = t();
  await pool(range(s.nodes), 24, async (i) => {
    await post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName(i), labels: { 'kubernetes.io/hostname': nodeName(i) } }, spec: { podCIDR: blockOf(i), podCIDRs: [blockOf(i)] } }, 'node');
    await c.request(`/api/v1/nodes/${nodeName(i)}/status`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { status: { addresses: [{ type: 'InternalIP', address: underlayIp(i) }, { type: 'Hostname', address: nodeName(i) }] } },
      what: 'node status',
    });
    if (i === 0) return;
    const lease = `twill-sim-${i}`;
    await post('/apis/twill.dev/v1alpha1/ipamblocks', { apiVersion: TWILL_API, kind: 'IPAMBlock', metadata: { name: blockOf(i).replace(/[./]/g, '-') }, spec: { cidr: blockOf(i), node: nodeName(i), claimedAt: new Date().toISOString() } }, 'block');
    // Peers' TwillNodes, attached to leases that are never renewed: this bench's agent does not
    // reap them within the run (it judges expiry from when it first saw them), as it would not
    // in a live cluster whose agents renew.
    await post('/apis/twill.dev/v1alpha1/twillnodes', {
      apiVersion: TWILL_API,
      kind: 'TwillNode',
      metadata: { name: nodeName(i), labels: { [LEASE_LABEL]: lease } },
      spec: { underlayIP: underlayIp(i), underlayCIDR: '198.18.0.0/16', backend: 'vxlan', vtepMAC: `0a:58:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, vtepIP: blockOf(i).replace(/0\/24$/, '0'), blocks: [blockOf(i)], agentVersion: 'sim' },
    }, 'twillnode');
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    await post('/apis/coordination.k8s.io/v1/namespaces/twill-system/leases', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: lease, labels: { 'app.kubernetes.io/managed-by': 'twill' } }, spec: { holderIdentity: nodeName(i), leaseDurationSeconds: 3600, renewTime: now, acquireTime: now } }, 'lease');
    if (i % 200 === 0) progress(`  ${i} nodes`);
  });
  took['nodesMs'] = t() - t0;

  t0 = t();
  let done = 0;
  await pool(range(s.pods), 32, async (k) => {
    const node = 1 + (k % (s.nodes - 1));
    const ns = `ks-${k % s.namespaces}`;
    await post(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p-${k}`, namespace: ns, labels: { app: `a${k % 50}`, tier: k % 3 === 0 ? 'db' : 'web' }, annotations: { [POD_IPS_ANNOTATION]: podIp(node, Math.floor(k / (s.nodes - 1))) } },
      spec: { nodeName: nodeName(node), containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
    }, 'pod');
    if (++done % 5000 === 0) progress(`  ${done} pods`);
  });
  took['podsMs'] = t() - t0;

  t0 = t();
  await pool(range(s.policies), 16, (i) =>
    post(`/apis/networking.k8s.io/v1/namespaces/ks-${i % s.namespaces}/networkpolicies`, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `np-${i}`, namespace: `ks-${i % s.namespaces}` },
      spec: {
        podSelector: { matchLabels: { app: `a${i % 50}` } },
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: { matchLabels: { tier: 'web' } } }, { namespaceSelector: { matchLabels: { team: `t${i % 10}` } } }], ports: [{ protocol: 'TCP', port: 'http' }] }],
      },
    }, 'policy'),
  );
  took['policiesMs'] = t() - t0;
  for (const k of Object.keys(took)) took[k] = Math.round(took[k]!);
  return took;
}
