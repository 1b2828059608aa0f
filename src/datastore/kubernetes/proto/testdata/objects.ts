// Services and EndpointSlices of every shape the services compiler reads, for the protobuf
// decoder's golden fixtures (scripts/capture-proto-fixtures.ts) and its kernel-tier test: both
// write these to a real kube-apiserver and compare its protobuf answer with its JSON answer.
type Obj = Record<string, unknown>;

interface Named extends Obj {
  metadata: { name: string } & Obj;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

export function fixtureObjects(ns: string): { services: Named[]; statuses: { name: string; status: Obj }[]; slices: Named[] } {
  const svc = (name: string, spec: Obj, meta: Obj = {}): Named => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, ...meta }, spec });
  const services = [
    svc(
      'cip-named',
      {
        selector: { app: 'web', tier: 'front' },
        ports: [
          { name: 'http', port: 80, targetPort: 'web', protocol: 'TCP', appProtocol: 'http' },
          { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
          { name: 'sctp', port: 9, targetPort: 9, protocol: 'SCTP' },
        ],
      },
      { labels: { app: 'web', 'service.kubernetes.io/service-proxy-name': 'other-proxy', empty: '' }, annotations: { owner: 'team-a', [LAST_APPLIED]: '{"big":"json"}' } },
    ),
    svc('nodeport-local', { type: 'NodePort', externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Local', selector: { app: 'np' }, ports: [{ port: 8080, targetPort: 8080, nodePort: 30080 }] }),
    svc('lb', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'lb' }, ports: [{ name: 'https', port: 443, targetPort: 'https' }], externalIPs: ['192.0.2.50', '198.51.100.7'] }),
    svc('lb-cluster', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, selector: { app: 'lb' }, ports: [{ port: 80 }] }),
    svc('extname', { type: 'ExternalName', externalName: 'db.example.com' }),
    svc('headless', { clusterIP: 'None', publishNotReadyAddresses: true, selector: { app: 'db' }, ports: [{ port: 5432 }] }, { labels: { 'service.kubernetes.io/headless': '' } }),
    svc('affinity', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, selector: { app: 'sticky' }, ports: [{ port: 80, targetPort: 8080 }] }),
    svc('affinity-default', { sessionAffinity: 'ClientIP', selector: { app: 'sticky' }, ports: [{ port: 81 }] }),
    svc('dual', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'], selector: { app: 'dual' }, ports: [{ port: 80 }] }),
    svc('v6-only', { ipFamilies: ['IPv6'], selector: { app: 'v6' }, ports: [{ port: 80, name: 'h' }] }),
    svc('no-selector', { ports: [{ port: 1234, protocol: 'UDP' }] }),
  ];
  const statuses = [
    { name: 'lb', status: { loadBalancer: { ingress: [{ ip: '203.0.113.10', ipMode: 'Proxy' }, { ip: '203.0.113.11', ipMode: 'VIP' }, { hostname: 'lb.example.com' }, { ip: '203.0.113.12' }] } } },
  ];
  const slice = (name: string, service: string, body: Obj): Named => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'test' }, annotations: { note: 'x' } },
    ...body,
  });
  const ref = (name: string): Obj => ({ kind: 'Pod', namespace: ns, name, uid: '3f1a2b9c-0000-4000-8000-000000000001', resourceVersion: '7' });
  const slices = [
    slice('web-v4', 'cip-named', {
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.0.0.1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a', targetRef: ref('web-1'), hostname: 'web-1', zone: 'z1', hints: { forZones: [{ name: 'z1' }] } },
        { addresses: ['10.0.0.2'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-b', targetRef: ref('web-2') },
        { addresses: ['10.0.0.3'] },
        { addresses: ['10.0.0.4'], conditions: { serving: false } },
        { addresses: ['10.0.0.5'], conditions: { ready: true }, nodeName: 'node-a' },
        { addresses: ['10.0.0.6'], conditions: { ready: false, serving: false, terminating: true }, targetRef: { kind: 'Pod', name: 'bare' } },
      ],
      ports: [
        { name: 'http', port: 8080, protocol: 'TCP', appProtocol: 'http' },
        { name: 'dns', port: 5353, protocol: 'UDP' },
        { name: 'sctp', port: 9, protocol: 'SCTP' },
      ],
    }),
    slice('dual-v6', 'dual', {
      addressType: 'IPv6',
      endpoints: [
        { addresses: ['fd00::1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a', zone: 'z2' },
        { addresses: ['fd00::2'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-c' },
      ],
      ports: [{ name: '', port: 80, protocol: 'TCP' }],
    }),
    slice('np-v4', 'nodeport-local', { addressType: 'IPv4', endpoints: [{ addresses: ['10.0.1.1'], conditions: { ready: true }, nodeName: 'node-a' }], ports: [{ port: 8080 }] }),
    slice('empty', 'headless', { addressType: 'IPv4', endpoints: [] }),
    slice('fqdn', 'extname', { addressType: 'FQDN', endpoints: [{ addresses: ['db.example.com'] }], ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] }),
  ];
  return { services, statuses, slices };
}
