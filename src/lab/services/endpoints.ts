// What kube-controller-manager does for Services, for an etcd lab: allocate ClusterIPs (from
// 10.96.0.0/16), NodePorts (30000-32767) and healthCheckNodePorts, and derive EndpointSlices from
// each Service's selector and its pods. Pure: (Services, Pods, existing managed slices) → the
// objects to write and delete. Services without a selector keep hand-written slices.
//
// Pods of one Service whose named targetPort resolves to different numbers go in different slices
// (one slice per port signature), as the slice controller does; the slice's port carries the
// Service port's name, so the proxy resolves per slice.
import { createHash } from 'node:crypto';
import { selectorMatches } from '../../model/labels.js';
import { SERVICE_NAME_LABEL, objectKey, type EndpointSlice, type Pod, type Service } from '../../model/types.js';
import { cidrAddr, formatIp, parseCidr } from '../../util/ip.js';
import { TwillError } from '../../util/errors.js';

export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'twill-lab-controller';
export const SERVICE_RANGE = '10.96.0.0/16';
export const NODE_PORT_RANGE = { first: 30000, last: 32767 };

/** Fills spec.clusterIP(s), nodePorts and healthCheckNodePort where unset; returns the Services that changed. */
export function allocate(services: Service[]): Service[] {
  const range = parseCidr(SERVICE_RANGE);
  const usedIPs = new Set(services.flatMap((s) => [s.spec.clusterIP, ...(s.spec.clusterIPs ?? [])]).filter((x): x is string => !!x));
  const usedPorts = new Set(services.flatMap((s) => [...(s.spec.ports ?? []).map((p) => p.nodePort), s.spec.healthCheckNodePort]).filter((x): x is number => !!x));
  let nextIP = 10n; // .1 is the kubernetes Service's in a real cluster; leave the first few free.
  let nextPort = NODE_PORT_RANGE.first;
  const ip = (): string => {
    for (; nextIP < 65_535n; nextIP++) {
      const a = formatIp(cidrAddr(range, nextIP));
      if (!usedIPs.has(a)) {
        usedIPs.add(a);
        return a;
      }
    }
    throw new TwillError('IPAM_EXHAUSTED', `no free ClusterIP left in ${SERVICE_RANGE}`);
  };
  const port = (): number => {
    for (; nextPort <= NODE_PORT_RANGE.last; nextPort++) {
      if (!usedPorts.has(nextPort)) {
        usedPorts.add(nextPort);
        return nextPort;
      }
    }
    throw new TwillError('IPAM_EXHAUSTED', `no free NodePort left in ${NODE_PORT_RANGE.first}-${NODE_PORT_RANGE.last}`);
  };
  const changed: Service[] = [];
  for (const s of [...services].sort((a, b) => objectKey(a).localeCompare(objectKey(b)))) {
    if (s.spec.type === 'ExternalName') continue;
    const next = structuredClone(s);
    if (next.spec.clusterIP === undefined || next.spec.clusterIP === '') {
      next.spec.clusterIP = ip();
      next.spec.clusterIPs = [next.spec.clusterIP];
    }
    if (next.spec.type === 'NodePort' || next.spec.type === 'LoadBalancer') {
      for (const p of next.spec.ports ?? []) if (!p.nodePort) p.nodePort = port();
      if (next.spec.type === 'LoadBalancer' && next.spec.externalTrafficPolicy === 'Local' && !next.spec.healthCheckNodePort) next.spec.healthCheckNodePort = port();
    }
    if (JSON.stringify(next.spec) !== JSON.stringify(s.spec)) changed.push(next);
  }
  return changed;
}

function targetPort(pod: Pod, target: number | string | undefined, port: number, protocol: string): number | undefined {
  if (typeof target === 'number') return target;
  if (target === undefined) return port;
  for (const c of pod.spec.containers) for (const cp of c.ports ?? []) if (cp.name === target && (cp.protocol ?? 'TCP') === protocol) return cp.containerPort;
  return undefined;
}

/** The slices a Service's selector asks for (none for a Service without selector). */
export function desiredSlices(svc: Service, pods: Pod[]): EndpointSlice[] {
  const sel = svc.spec.selector;
  if (!sel || Object.keys(sel).length === 0 || svc.spec.type === 'ExternalName') return [];
  const ns = svc.metadata.namespace;
  const groups = new Map<string, { ports: NonNullable<EndpointSlice['ports']>; pods: Pod[] }>();
  for (const pod of pods) {
    if (pod.metadata.namespace !== ns || !selectorMatches({ matchLabels: sel }, pod.metadata.labels ?? {})) continue;
    const ip = pod.status?.podIP;
    if (!ip || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    const ports = (svc.spec.ports ?? []).flatMap((sp) => {
      const protocol = sp.protocol ?? 'TCP';
      const n = targetPort(pod, sp.targetPort, sp.port, protocol);
      return n === undefined ? [] : [{ name: sp.name ?? '', port: n, protocol }];
    });
    const sig = JSON.stringify(ports);
    groups.set(sig, { ports, pods: [...(groups.get(sig)?.pods ?? []), pod] });
  }
  return [...groups].map(([sig, g]) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: ns,
      name: `${svc.metadata.name}-${createHash('sha256').update(sig).digest('hex').slice(0, 5)}`,
      labels: { [SERVICE_NAME_LABEL]: svc.metadata.name, [MANAGED_BY_LABEL]: MANAGED_BY },
    },
    addressType: 'IPv4',
    endpoints: g.pods
      .map((p) => {
        const ready = p.status?.phase === 'Running';
        return { addresses: [p.status!.podIP!], conditions: { ready, serving: ready, terminating: false }, nodeName: p.spec.nodeName!, targetRef: { kind: 'Pod', namespace: ns, name: p.metadata.name } };
      })
      .sort((a, b) => a.addresses[0]!.localeCompare(b.addresses[0]!, 'en', { numeric: true })),
    ports: g.ports,
  }));
}

/** Managed slices to write (new or changed) and to delete, given every Service, Pod and slice. */
export function planSlices(services: Service[], pods: Pod[], slices: EndpointSlice[]): { put: EndpointSlice[]; remove: EndpointSlice[] } {
  const want = new Map(services.flatMap((s) => desiredSlices(s, pods)).map((s) => [objectKey(s), s]));
  const have = new Map(slices.filter((s) => s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY).map((s) => [objectKey(s), s]));
  const body = (s: EndpointSlice): string => JSON.stringify([s.metadata.labels, s.addressType, s.endpoints, s.ports]);
  return {
    put: [...want.values()].filter((s) => !have.has(objectKey(s)) || body(have.get(objectKey(s))!) !== body(s)),
    remove: [...have.values()].filter((s) => !want.has(objectKey(s))),
  };
}
