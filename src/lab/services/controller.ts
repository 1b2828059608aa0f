// Runs the lab's Service controller once against the datastore: allocations are written back to
// the Services (compare-and-swap), managed EndpointSlices are created, updated and deleted. The
// lab calls it after every change it makes (apply, delete), which is when pods or Services change
// in an etcd lab.
import type { Store } from '../../datastore/store.js';
import { objectKey, type Service } from '../../model/types.js';
import { allocate, planSlices } from './endpoints.js';

export interface ControllerRun {
  allocated: number;
  slicesWritten: number;
  slicesDeleted: number;
}

/** A re-applied Service keeps what was allocated to it, as the API server keeps a ClusterIP. */
export function keepAllocations(next: Service, prev: Service | undefined): Service {
  if (!prev) return next;
  const out = structuredClone(next);
  if (!out.spec.clusterIP && prev.spec.clusterIP) {
    out.spec.clusterIP = prev.spec.clusterIP;
    if (prev.spec.clusterIPs) out.spec.clusterIPs = [...prev.spec.clusterIPs];
  }
  for (const p of out.spec.ports ?? []) {
    const old = prev.spec.ports?.find((q) => (q.name ?? '') === (p.name ?? '') && (q.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
    if (!p.nodePort && old?.nodePort && (out.spec.type === 'NodePort' || out.spec.type === 'LoadBalancer')) p.nodePort = old.nodePort;
  }
  if (!out.spec.healthCheckNodePort && prev.spec.healthCheckNodePort && out.spec.type === 'LoadBalancer' && out.spec.externalTrafficPolicy === 'Local') {
    out.spec.healthCheckNodePort = prev.spec.healthCheckNodePort;
  }
  return out;
}

export async function runServiceController(store: Store): Promise<ControllerRun> {
  const services = (await store.list('Service')).items;
  const changed = allocate(services);
  for (const s of changed) await store.update(s);
  const byKey = new Map(services.map((s) => [objectKey(s), s]));
  for (const s of changed) byKey.set(objectKey(s), s);
  const plan = planSlices([...byKey.values()], (await store.list('Pod')).items, (await store.list('EndpointSlice')).items);
  for (const s of plan.put) await store.put(s);
  for (const s of plan.remove) await store.delete('EndpointSlice', objectKey(s));
  return { allocated: changed.length, slicesWritten: plan.put.length, slicesDeleted: plan.remove.length };
}
