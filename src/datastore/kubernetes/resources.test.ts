import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { LEASE_LABEL, POD_IPS_ANNOTATION, collectionPath, decodeObject, encodeObject, objectPath } from './resources.js';

// A Pod as kube-apiserver returns it (defaults, managedFields, status), trimmed to what matters.
const apiPod = {
  metadata: {
    name: 'web', namespace: 'shop', uid: 'u-1', resourceVersion: '42', creationTimestamp: '2026-01-01T00:00:00Z', generation: 1,
    labels: { app: 'web' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"x":1}', [POD_IPS_ANNOTATION]: '10.244.1.5,fd00:10:244::5' },
    managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
  },
  spec: {
    nodeName: 'n1', restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler',
    containers: [{ name: 'c', image: 'nginx', imagePullPolicy: 'Always', terminationMessagePath: '/dev/termination-log', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }],
  },
  status: { phase: 'Pending', qosClass: 'BestEffort', conditions: [{ type: 'PodScheduled', status: 'True' }] },
};

// %HaveSameMap (hidden classes) in one test below.
setFlagsFromString('--allow-natives-syntax');

describe('kubernetes resources', () => {
  it('paths: core and named groups, namespaced and cluster-scoped', () => {
    assert.equal(collectionPath('Pod'), '/api/v1/pods');
    assert.equal(collectionPath('Pod', 'shop'), '/api/v1/namespaces/shop/pods');
    assert.equal(objectPath('NetworkPolicy', 'deny', 'shop'), '/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/deny');
    assert.equal(objectPath('TwillNode', 'n1'), '/apis/twill.dev/v1alpha1/twillnodes/n1');
    assert.equal(collectionPath('Node'), '/api/v1/nodes');
  });

  it('a Pod is projected to what Twill reads; published addresses stand in for status.podIPs', () => {
    const p = decodeObject('Pod', apiPod);
    assert.deepEqual(p, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' }, resourceVersion: '42' },
      spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }], nodeName: 'n1' },
      status: { phase: 'Pending', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }, { ip: 'fd00:10:244::5' }] },
    });
    const reported = decodeObject('Pod', { ...apiPod, status: { phase: 'Running', podIP: '10.244.1.6', podIPs: [{ ip: '10.244.1.6' }] } });
    assert.deepEqual(reported.status?.podIPs, [{ ip: '10.244.1.6' }], 'kubelet\'s status wins over the annotation');
    const twin = decodeObject('Pod', { ...apiPod, metadata: { ...apiPod.metadata, name: 'web-2' } });
    assert.equal(twin.metadata.labels, p.metadata.labels, 'identical label sets are one shared object');
    assert.equal(twin.spec.containers, p.spec.containers, 'identical container port lists are shared');
    const bare = decodeObject('Pod', { metadata: { name: 'x', namespace: 'shop' }, spec: { containers: [{ name: 'c', image: 'pause' }] } });
    assert.deepEqual(bare.spec.containers, [], 'containers without ports are not kept');
  });

  it('a Node keeps addresses, podCIDRs and conditions; the lease label is hidden and re-attached on write', () => {
    const n = decodeObject('Node', {
      metadata: { name: 'n1', resourceVersion: '7', labels: { 'kubernetes.io/hostname': 'n1' } },
      spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'], providerID: 'x' },
      status: { addresses: [{ type: 'InternalIP', address: '192.0.2.11' }], conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ok', lastHeartbeatTime: 't' }], images: [{ names: ['big'] }] },
    });
    assert.deepEqual(n.spec, { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] });
    assert.deepEqual(n.status, { addresses: [{ type: 'InternalIP', address: '192.0.2.11' }], conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ok' }] });
    const tn = decodeObject('TwillNode', { metadata: { name: 'n1', resourceVersion: '3', labels: { [LEASE_LABEL]: 'twill-1' } }, spec: { underlayIP: '192.0.2.11', underlayCIDR: '192.0.2.0/24', backend: 'vxlan', blocks: [] } });
    assert.equal(tn.metadata.labels, undefined);
    const body = encodeObject({ ...tn, metadata: { ...tn.metadata, labels: { a: 'b', [LEASE_LABEL]: 'forged' } } }, 'twill-2', '3') as { metadata: Record<string, unknown> };
    assert.deepEqual(body.metadata, { name: 'n1', labels: { a: 'b', [LEASE_LABEL]: 'twill-2' }, resourceVersion: '3' });
    const plain = encodeObject(tn, undefined) as { metadata: Record<string, unknown> };
    assert.deepEqual(plain.metadata, { name: 'n1' }, 'no lease, no resourceVersion: neither is sent');
  });

  it('a Service keeps what the services compiler reads; an EndpointSlice its endpoints, conditions, node and pod', () => {
    const svc = decodeObject('Service', {
      metadata: { name: 'web', namespace: 'shop', resourceVersion: '9', uid: 'u', labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'x' }, managedFields: [{}] },
      spec: {
        type: 'LoadBalancer', clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', selector: { app: 'web' },
        ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'web', nodePort: 30080 }], sessionAffinity: 'None', externalTrafficPolicy: 'Local', healthCheckNodePort: 31000,
        internalTrafficPolicy: 'Cluster', allocateLoadBalancerNodePorts: true,
      },
      status: { loadBalancer: { ingress: [{ ip: '203.0.113.9', ipMode: 'VIP', ports: [] }] }, conditions: [] },
    });
    assert.deepEqual(svc, {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' }, resourceVersion: '9' },
      spec: {
        type: 'LoadBalancer', clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], ipFamilies: ['IPv4'], selector: { app: 'web' },
        ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'web', nodePort: 30080 }], sessionAffinity: 'None', externalTrafficPolicy: 'Local', healthCheckNodePort: 31000, internalTrafficPolicy: 'Cluster',
      },
      status: { loadBalancer: { ingress: [{ ip: '203.0.113.9', ipMode: 'VIP' }] } },
    });
    const es = decodeObject('EndpointSlice', {
      metadata: { name: 'web-x1', namespace: 'shop', resourceVersion: '10', labels: { 'kubernetes.io/service-name': 'web' }, ownerReferences: [{}] },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1', zone: 'z', hints: {}, targetRef: { kind: 'Pod', namespace: 'shop', name: 'web-1', uid: 'u1' } }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
    assert.deepEqual(es, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-x1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' }, resourceVersion: '10' },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'shop', name: 'web-1' } }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
    // A slice of a Service without ports has `ports: null` in the API.
    assert.equal(decodeObject('EndpointSlice', { metadata: { name: 'e', namespace: 'shop' }, addressType: 'IPv4', endpoints: null, ports: null }).ports, undefined);
  });

  it('decoded objects of a kind share their hidden classes (no map and descriptors per object)', () => {
    const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
    const svc = (i: number): Record<string, unknown> => ({ metadata: { name: `s${i}`, namespace: 'default', resourceVersion: String(i), uid: `u${i}` }, spec: { type: 'ClusterIP', clusterIP: `10.96.0.${i}`, clusterIPs: [`10.96.0.${i}`], ipFamilyPolicy: 'SingleStack', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } });
    const es = (i: number): Record<string, unknown> => ({ metadata: { name: `s${i}-a`, namespace: 'default', resourceVersion: String(i), labels: { 'kubernetes.io/service-name': `s${i}` } }, addressType: 'IPv4', endpoints: [{ addresses: [`10.244.0.${i}`], conditions: { ready: true } }], ports: [{ name: '', port: 8080, protocol: 'TCP' }] });
    // Every kind through the decoder first, as an agent's informers do, so no call site stays monomorphic.
    for (let i = 0; i < 50; i++) {
      decodeObject('Pod', apiPod);
      decodeObject('Node', { metadata: { name: `n${i}` }, spec: {}, status: {} });
      decodeObject('NetworkPolicy', { metadata: { name: `p${i}`, namespace: 'default' }, spec: {} });
      decodeObject('Namespace', { metadata: { name: `ns${i}` } });
      decodeObject('Service', svc(i));
      decodeObject('EndpointSlice', es(i));
    }
    const [s1, s2] = [decodeObject('Service', svc(1)), decodeObject('Service', svc(2))];
    const [e1, e2] = [decodeObject('EndpointSlice', es(1)), decodeObject('EndpointSlice', es(2))];
    assert.ok(sameMap(s1, s2) && sameMap(s1.spec, s2.spec), 'two Services');
    assert.ok(sameMap(e1, e2) && sameMap(e1.endpoints[0]!, e2.endpoints[0]!), 'two EndpointSlices');
  });
});
