import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Namespace, NetworkPolicy, Pod } from '../model/types.js';
import { buildSnapshot, effectivePolicyTypes, indexSnapshot } from './snapshot.js';
import { pol } from './testing/fixtures.js';

const pod = (name: string, extra: Partial<Pod['spec']> = {}, status: Pod['status'] = { phase: 'Running', podIP: '10.244.1.2' }): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { namespace: 'shop', name, labels: { app: name } },
  spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 53, protocol: 'UDP' }] }], ...extra },
  status,
});

test('buildSnapshot keeps pod-network pods that run, with their ports, and only valid policies', () => {
  const ns: Namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { env: 'prod' } } };
  const bad: NetworkPolicy = pol('shop', 'bad', { podSelector: {}, ingress: [{ ports: [{ port: 0 }] }] });
  const { snapshot, rejected } = buildSnapshot({
    node: 'n1',
    namespaces: [ns],
    pods: [
      pod('web'),
      pod('dual', {}, { phase: 'Running', podIPs: [{ ip: '10.244.1.3' }, { ip: 'fd00::3' }] }),
      pod('host', { hostNetwork: true }),
      pod('done', {}, { phase: 'Succeeded', podIP: '10.244.1.4' }),
      pod('pending', {}, { phase: 'Pending' }),
    ],
    policies: [pol('shop', 'ok', { podSelector: {} }), bad],
    localEndpoints: [],
  });
  assert.deepEqual(snapshot.pods.map((p) => p.name), ['web', 'dual']);
  assert.deepEqual(snapshot.pods[1]!.ips, ['10.244.1.3', 'fd00::3']);
  assert.deepEqual(snapshot.pods[0]!.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }]);
  assert.deepEqual(snapshot.policies.map((p) => p.metadata.name), ['ok']);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]!.policy, 'shop/bad');
  assert.equal(rejected[0]!.errors[0]!.field, 'spec.ingress[0].ports[0].port');
  assert.deepEqual(snapshot.namespaces, [{ name: 'shop', labels: { env: 'prod' } }]);
});

test('indexSnapshot: namespace name label, first pod wins a duplicate address, addresses normalised', () => {
  const idx = indexSnapshot({
    node: 'n1',
    namespaces: [{ name: 'a', labels: { team: 'x' } }],
    pods: [
      { namespace: 'b', name: 'late', labels: {}, ips: ['10.0.0.1', '10.0.0.9'], node: 'n1', ports: [] },
      { namespace: 'a', name: 'early', labels: {}, ips: ['10.0.0.1', 'FD00:0:0::1'], node: 'n1', ports: [] },
    ],
    policies: [],
    localEndpoints: [],
  });
  assert.deepEqual(idx.namespaceLabels('a'), { team: 'x', 'kubernetes.io/metadata.name': 'a' });
  assert.deepEqual(idx.namespaceLabels('unknown'), { 'kubernetes.io/metadata.name': 'unknown' });
  assert.equal(idx.podByIp.get('10.0.0.1')!.key, 'a/early');
  assert.deepEqual(idx.podsByKey.get('b/late')!.ips, ['10.0.0.9']);
  assert.deepEqual(idx.podsByKey.get('a/early')!.ips, ['10.0.0.1', 'fd00::1']);
});

test('effectivePolicyTypes follows the API defaults', () => {
  assert.deepEqual(effectivePolicyTypes(pol('a', 'p', { podSelector: {} })), ['Ingress']);
  assert.deepEqual(effectivePolicyTypes(pol('a', 'p', { podSelector: {}, egress: [] })), ['Ingress']);
  assert.deepEqual(effectivePolicyTypes(pol('a', 'p', { podSelector: {}, egress: [{}] })), ['Ingress', 'Egress']);
  assert.deepEqual(effectivePolicyTypes(pol('a', 'p', { podSelector: {}, policyTypes: ['Egress'], ingress: [{}] })), ['Egress']);
});
