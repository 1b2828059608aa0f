// The Services and EndpointSlices every proxy is fed, and where they are written: to a real
// kube-apiserver (kube-proxy reads it, and Twill by default, through its Kubernetes datastore),
// and to the etcd datastore too when Twill is to read that instead (`--twill-datastore etcd`).
import type { ControlPlane } from '../../src/datastore/kubernetes/testing/control-plane.js';
import type { Store } from '../../src/datastore/store.js';
import type { EndpointSlice, Service } from '../../src/model/types.js';

export type Proxy = 'twill' | 'nftables' | 'iptables';
/** Where Twill reads Services from: the kube-apiserver (as in a cluster) or its etcd datastore. */
export type TwillDatastore = 'kubernetes' | 'etcd';

export const NODE_IP = '192.0.2.11';
export const CLUSTER_CIDR = '10.244.0.0/14';
/** The Service the traffic phases use: two ports, three endpoints in the server pod. */
export const BENCH_IP = '10.96.200.10';
export const SERVERS = ['10.244.0.10', '10.244.0.11', '10.244.0.12'];
export const CLIENT = '10.244.0.2';

const fillerIP = (i: number): string => `10.96.${1 + (i >> 8)}.${i & 255}`;
const fillerEP = (i: number, k: number): string => `10.${245 + k}.${(i >> 8) & 255}.${i & 255}`;

function service(name: string, ip: string, ports: { name: string; port: number; targetPort: number }[]): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name }, spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], ports: ports.map((p) => ({ ...p, protocol: 'TCP' as const })) } };
}

function slice(svc: string, ips: string[], ports: { name: string; port: number }[]): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'default', name: `${svc}-a`, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'elsewhere' })),
    ports: ports.map((p) => ({ ...p, protocol: 'TCP' as const })),
  };
}

/** Filler Service i: one port, three endpoints on another node (no traffic reaches them). */
export const filler = (i: number): [Service, EndpointSlice] => [service(`s${i}`, fillerIP(i), [{ name: '', port: 80, targetPort: 8080 }]), slice(`s${i}`, [0, 1, 2].map((k) => fillerEP(i, k)), [{ name: '', port: 8080 }])];

export const benchObjects = (): [Service, EndpointSlice] => [
  service('bench', BENCH_IP, [{ name: 'conn', port: 80, targetPort: 8080 }, { name: 'iperf', port: 5201, targetPort: 5201 }]),
  slice('bench', SERVERS, [{ name: 'conn', port: 8080 }, { name: 'iperf', port: 5201 }]),
];

export class Feeds {
  constructor(
    private readonly cp: ControlPlane,
    /** Twill's etcd datastore; undefined when Twill reads the apiserver too. */
    private readonly store: Store | undefined,
    /** Whether any proxy reads the apiserver (not when Twill alone runs on etcd). */
    private readonly toApi = true,
  ) {}

  /** Creates the objects in the apiserver (and etcd), `conc` writes at a time. */
  async put(objs: (Service | EndpointSlice)[], conc = 24): Promise<void> {
    const c = this.cp.admin();
    let next = 0;
    const path = (o: Service | EndpointSlice): string => (o.kind === 'Service' ? '/api/v1/namespaces/default/services' : '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices');
    const worker = async (): Promise<void> => {
      while (next < objs.length) {
        const o = objs[next++]!;
        if (this.toApi) await c.request(path(o), { method: 'POST', body: o, what: `creating ${o.kind} ${o.metadata.name}` });
        await this.store?.put(o);
      }
    };
    try {
      await Promise.all(Array.from({ length: conc }, worker));
    } finally {
      c.close();
    }
  }

  /** Replaces a slice in the store the proxy reads; resolves at the write's acknowledgement. */
  async replaceSlice(proxy: Proxy, s: EndpointSlice): Promise<void> {
    if (proxy === 'twill' && this.store) return void (await this.store.put(s));
    const c = this.cp.admin();
    try {
      const url = `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/${s.metadata.name}`;
      const cur = await c.request<EndpointSlice>(url, { what: 'reading a slice' });
      await c.request(url, { method: 'PUT', body: { ...s, metadata: { ...s.metadata, resourceVersion: cur.metadata.resourceVersion } }, what: 'updating a slice' });
    } finally {
      c.close();
    }
  }
}
