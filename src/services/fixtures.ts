// Builders for Services and EndpointSlices in tests (unit and kernel): short, so each golden case
// reads as the one feature it covers.
import type { Endpoint, EndpointSlice, Service, ServicePort } from '../model/types.js';
import type { ServicesSnapshot } from './resolve.js';

export function service(name: string, spec: Partial<Service['spec']> & { ports?: ServicePort[] }, extra: Partial<Service> = {}, namespace = 'default'): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace, name, ...extra.metadata }, spec: { type: 'ClusterIP', ports: [{ port: 80, targetPort: 8080 }], ...spec }, ...(extra.status ? { status: extra.status } : {}) };
}

export function endpoint(ip: string, nodeName: string, conditions: Endpoint['conditions'] = { ready: true, serving: true, terminating: false }): Endpoint {
  return { addresses: [ip], nodeName, conditions };
}

export function slice(svc: string, endpoints: Endpoint[], ports: EndpointSlice['ports'] = [{ name: '', port: 8080, protocol: 'TCP' }], suffix = 'a', namespace = 'default'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace, name: `${svc}-${suffix}`, labels: { 'kubernetes.io/service-name': svc } },
    addressType: endpoints.some((e) => e.addresses[0]!.includes(':')) ? 'IPv6' : 'IPv4',
    endpoints,
    ports,
  };
}

/** Node n1 at 192.0.2.11 in pool 10.244.0.0/16. */
export function snapshot(services: Service[], endpointSlices: EndpointSlice[], more: Partial<ServicesSnapshot> = {}): ServicesSnapshot {
  return { node: { name: 'n1', addresses: ['192.0.2.11'] }, podCidrs: ['10.244.0.0/16'], services, endpointSlices, ...more };
}
