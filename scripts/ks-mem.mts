import { decodeObject } from '../src/datastore/kubernetes/resources.ts';
import { buildSnapshot, PolicyCompiler } from '../src/policy/index.ts';
const gc = (globalThis as any).gc as () => void;
const mb = () => { gc(); gc(); return +(process.memoryUsage().heapUsed / 1048576).toFixed(1); };
const m0 = mb();
const pods: any[] = [];
for (let k = 0; k < 30000; k++) {
  const node = 1 + (k % 999);
  const raw = JSON.parse(JSON.stringify({
    metadata: { name: `p-${k}`, namespace: `ks-${k % 100}`, uid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', resourceVersion: String(100000 + k), creationTimestamp: '2026-12-02T05:57:00Z', labels: { app: `a${k % 50}`, tier: k % 3 === 0 ? 'db' : 'web' }, annotations: { 'twill.dev/pod-ips': `10.${64 + (node >> 8)}.${node & 255}.${2 + (k % 250)}` }, managedFields: [{ manager: 'x', operation: 'Update', fieldsV1: { a: 1 } }] },
    spec: { nodeName: `ks-node-${node}`, restartPolicy: 'Always', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', imagePullPolicy: 'IfNotPresent', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
    status: { phase: 'Pending', qosClass: 'BestEffort' },
  }));
  pods.push(decodeObject('Pod', raw));
}
const m1 = mb();
console.log('30k decoded pods MB', (m1 - m0).toFixed(1));
const namespaces = Array.from({ length: 100 }, (_, i) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ks-${i}`, labels: { team: `t${i % 10}` } } }));
const policies = Array.from({ length: 200 }, (_, i) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `np-${i}`, namespace: `ks-${i % 100}` }, spec: { podSelector: { matchLabels: { app: `a${i % 50}` } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { tier: 'web' } } }, { namespaceSelector: { matchLabels: { team: `t${i % 10}` } } }], ports: [{ protocol: 'TCP', port: 'http' }] }] } }));
const t0 = performance.now();
const { snapshot } = buildSnapshot({ node: 'ks-node-0', namespaces: namespaces as any, pods, policies: policies as any, localEndpoints: [] });
const t1 = performance.now();
const model = new PolicyCompiler().compile(snapshot);
const t2 = performance.now();
const m2 = mb();
console.log('snapshot+model MB', (m2 - m1).toFixed(1), 'snapshot ms', (t1 - t0).toFixed(0), 'compile ms', (t2 - t1).toFixed(0));
console.log('rss', (process.memoryUsage().rss / 1048576).toFixed(0), 'heapTotal', (process.memoryUsage().heapTotal / 1048576).toFixed(0), model ? '' : '');
