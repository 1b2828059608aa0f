// `lab apply -f` and `lab delete -f`: validated documents become datastore objects and running
// pods. Apply is all-or-nothing: if a step fails, what this apply did is undone in reverse order.
import { randomUUID } from 'node:crypto';
import type { Store } from '../datastore/store.js';
import { objectKey, type EndpointSlice, type Namespace, type NetworkPolicy, type Pod, type Service } from '../model/types.js';
import { NAMESPACE_NAME_LABEL } from '../model/labels.js';
import { TwillError, describeError } from '../util/errors.js';
import { UndoStack } from '../util/undo.js';
import { agentRequest } from '../cli/client.js';
import { LabKubelet } from './kubelet.js';
import { keepAllocations, runServiceController } from './services/controller.js';
import type { Lab, Print } from './lab.js';
import type { LoadedDoc } from './manifest.js';

const ORDER = { Namespace: 0, Pod: 1, NetworkPolicy: 2, Service: 3, EndpointSlice: 4 } as const;

function withNamespaceLabel(ns: Namespace): Namespace {
  return { ...ns, metadata: { ...ns.metadata, labels: { ...ns.metadata.labels, [NAMESPACE_NAME_LABEL]: ns.metadata.name } } };
}

function sameSpec(a: Pod, b: Pod): boolean {
  return JSON.stringify(a.spec.containers) === JSON.stringify(b.spec.containers) && (b.spec.nodeName === undefined || a.spec.nodeName === b.spec.nodeName);
}

function strip<T extends { metadata: { resourceVersion?: string } }>(o: T): T {
  const c = structuredClone(o);
  delete c.metadata.resourceVersion;
  return c;
}

/** Creates the `default` namespace (as a Kubernetes cluster has one). */
export async function ensureDefaultNamespace(store: Store): Promise<void> {
  if (!(await store.get('Namespace', 'default'))) {
    await store.put(withNamespaceLabel({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } }));
  }
}

export async function applyDocs(lab: Lab, docs: LoadedDoc[], print: Print): Promise<void> {
  const store = await lab.store();
  const kubelet = new LabKubelet(lab);
  const sorted = [...docs].sort((a, b) => ORDER[a.obj.kind] - ORDER[b.obj.kind]);

  // Pre-flight against the cluster: namespaces exist, nodes exist.
  const problems: string[] = [];
  const nsInDocs = new Set(sorted.filter((d) => d.obj.kind === 'Namespace').map((d) => d.obj.metadata.name));
  for (const d of sorted) {
    if (d.obj.kind === 'Namespace') continue;
    const ns = d.obj.metadata.namespace!;
    if (!nsInDocs.has(ns) && !(await store.get('Namespace', ns))) problems.push(`${d.source} document ${d.index}: namespace "${ns}" does not exist; add a Namespace document for it`);
    const nodeName = d.obj.kind === 'Pod' ? d.obj.spec.nodeName : undefined;
    if (nodeName && !lab.state.nodes.some((n) => n.name === nodeName)) {
      problems.push(`${d.source} document ${d.index}: spec.nodeName "${nodeName}" is not a node of lab ${lab.name} (${lab.state.nodes.map((n) => n.name).join(', ')})`);
    }
  }
  if (problems.length) throw new TwillError('VALIDATION', `nothing was applied:\n  ${problems.join('\n  ')}`);

  const undo = new UndoStack();
  try {
    for (const d of sorted) {
      const o = d.obj;
      if (o.kind === 'Namespace') {
        const prev = await store.get('Namespace', o.metadata.name);
        const next = withNamespaceLabel(o);
        if (prev && JSON.stringify(prev.metadata.labels ?? {}) === JSON.stringify(next.metadata.labels)) {
          print(`namespace/${o.metadata.name} unchanged`);
          continue;
        }
        await store.put(next);
        undo.push(`restore namespace ${o.metadata.name}`, () => (prev ? store.put(strip(prev)) : store.delete('Namespace', o.metadata.name)));
        print(`namespace/${o.metadata.name} ${prev ? 'configured' : 'created'}`);
      } else if (o.kind === 'NetworkPolicy') {
        const prev = await store.get('NetworkPolicy', objectKey(o));
        if (prev && JSON.stringify(prev.spec) === JSON.stringify(o.spec) && JSON.stringify(prev.metadata.labels ?? {}) === JSON.stringify(o.metadata.labels ?? {})) {
          print(`networkpolicy/${objectKey(o)} unchanged`);
          continue;
        }
        const next: NetworkPolicy = { ...o, status: undefined as never };
        delete next.status;
        await store.put(next);
        undo.push(`restore policy ${objectKey(o)}`, () => (prev ? store.put(strip(prev)) : store.delete('NetworkPolicy', objectKey(o))));
        print(`networkpolicy/${objectKey(o)} ${prev ? 'configured' : 'created'}`);
      } else if (o.kind === 'Service' || o.kind === 'EndpointSlice') {
        await applyObject(o, store, undo, print);
      } else {
        await applyPod(o, store, kubelet, undo, print);
      }
    }
    await runServiceController(store);
    undo.commit();
  } catch (e) {
    const left = await undo.unwind();
    throw new TwillError('INTERNAL', `apply failed and was rolled back: ${describeError(e)}${left.length ? `; rollback left: ${left.join('; ')}` : ''}`, { cause: e });
  }
  await syncPolicy(lab, print);
  await syncServices(lab, print);
}

/** Services and EndpointSlices are stored as given (no controller rewrites them in an etcd lab). */
async function applyObject(o: Service | EndpointSlice, store: Store, undo: UndoStack, print: Print): Promise<void> {
  const key = objectKey(o);
  const what = `${o.kind.toLowerCase()}/${key}`;
  const prev = await store.get(o.kind, key);
  if (o.kind === 'Service') o = keepAllocations(o, prev as Service | undefined);
  const body = (x: Service | EndpointSlice): string => JSON.stringify({ ...x, metadata: { labels: x.metadata.labels ?? {}, annotations: x.metadata.annotations ?? {} } });
  if (prev && body(prev) === body(o)) {
    print(`${what} unchanged`);
    return;
  }
  await store.put(o);
  undo.push(`restore ${what}`, () => (prev ? store.put(strip(prev)) : store.delete(o.kind, key)));
  print(`${what} ${prev ? 'configured' : 'created'}`);
}

/** Returns once every agent's services table reflects the datastore (a lagging agent is named). */
export async function syncServices(lab: Lab, print: Print): Promise<void> {
  await Promise.all(
    lab.state.nodes.map((n) =>
      agentRequest(lab.socket(n.name), 'POST', '/v1/services/sync', {}, 10_000).catch((e: unknown) => print(`warning: ${n.name} has not confirmed its services table yet: ${describeError(e)}`)),
    ),
  );
}

/**
 * Returns once every agent's policy table reflects the datastore, so `lab apply && lab probe`
 * probes the new rules. An agent that cannot say so within the timeout is named, not fatal.
 */
export async function syncPolicy(lab: Lab, print: Print): Promise<void> {
  await Promise.all(
    lab.state.nodes.map((n) =>
      agentRequest(lab.socket(n.name), 'POST', '/v1/policy/sync', {}, 10_000).catch((e: unknown) => print(`warning: ${n.name} has not confirmed its policy table yet: ${describeError(e)}`)),
    ),
  );
}

async function applyPod(o: Pod, store: Store, kubelet: LabKubelet, undo: UndoStack, print: Print): Promise<void> {
  const key = objectKey(o);
  const prev = await store.get('Pod', key);
  const running = await kubelet.record(o.metadata.namespace, o.metadata.name);
  if (prev && running && sameSpec(prev, o)) {
    if (JSON.stringify(prev.metadata.labels ?? {}) === JSON.stringify(o.metadata.labels ?? {})) {
      print(`pod/${key} unchanged`);
      return;
    }
    // Label changes do not restart the pod (as in Kubernetes); policy follows the new labels.
    const next: Pod = { ...prev, metadata: { ...prev.metadata, labels: o.metadata.labels ?? {} } };
    await store.update(next);
    undo.push(`restore labels of ${key}`, async () => {
      const cur = await store.get('Pod', key);
      if (cur) await store.update({ ...cur, metadata: { ...cur.metadata, labels: prev.metadata.labels ?? {} } });
    });
    print(`pod/${key} configured (labels)`);
    return;
  }
  if (prev || running) {
    await kubelet.stop(o.metadata.namespace, o.metadata.name);
    await store.delete('Pod', key);
    print(`pod/${key} deleted (spec changed)`);
  }
  const node = o.spec.nodeName ?? (await kubelet.schedule());
  const uid = randomUUID();
  // As in Kubernetes, the Pod object exists (scheduled, Pending) before its sandbox is wired:
  // agents know its labels by the time CNI ADD asks for its policy.
  const pending: Pod = { ...o, metadata: { ...o.metadata, uid }, spec: { ...o.spec, nodeName: node }, status: { phase: 'Pending', hostIP: kubelet.nodeIp(node) } };
  await store.put(pending);
  undo.push(`delete pod ${key} from the datastore`, () => store.delete('Pod', key));
  const rec = await kubelet.run(o, node, uid);
  undo.push(`stop pod ${key}`, () => kubelet.stop(o.metadata.namespace, o.metadata.name));
  await store.put({ ...pending, status: { phase: 'Running', podIP: rec.ip, podIPs: [{ ip: rec.ip }], hostIP: kubelet.nodeIp(node) } });
  print(`pod/${key} created (${node}, ${rec.ip})`);
}

export async function deleteDocs(lab: Lab, docs: LoadedDoc[], print: Print): Promise<void> {
  const store = await lab.store();
  const kubelet = new LabKubelet(lab);
  const sorted = [...docs].sort((a, b) => ORDER[b.obj.kind] - ORDER[a.obj.kind]);
  for (const d of sorted) {
    const o = d.obj;
    if (o.kind === 'Pod') {
      const stopped = await kubelet.stop(o.metadata.namespace, o.metadata.name);
      const deleted = await store.delete('Pod', objectKey(o));
      print(`pod/${objectKey(o)} ${stopped || deleted ? 'deleted' : 'not found'}`);
    } else if (o.kind === 'NetworkPolicy') {
      print(`networkpolicy/${objectKey(o)} ${(await store.delete('NetworkPolicy', objectKey(o))) ? 'deleted' : 'not found'}`);
    } else if (o.kind === 'Service' || o.kind === 'EndpointSlice') {
      print(`${o.kind.toLowerCase()}/${objectKey(o)} ${(await store.delete(o.kind, objectKey(o))) ? 'deleted' : 'not found'}`);
    } else {
      const ns = o.metadata.name;
      for (const r of (await kubelet.records()).filter((r) => r.namespace === ns)) {
        await kubelet.stop(r.namespace, r.name);
        await store.delete('Pod', `${r.namespace}/${r.name}`);
        print(`pod/${r.namespace}/${r.name} deleted (namespace deleted)`);
      }
      for (const p of (await store.list('NetworkPolicy')).items.filter((p) => p.metadata.namespace === ns)) {
        await store.delete('NetworkPolicy', objectKey(p));
        print(`networkpolicy/${objectKey(p)} deleted (namespace deleted)`);
      }
      for (const kind of ['Service', 'EndpointSlice'] as const) {
        for (const x of (await store.list(kind, { namespace: ns })).items) {
          await store.delete(kind, objectKey(x));
          print(`${kind.toLowerCase()}/${objectKey(x)} deleted (namespace deleted)`);
        }
      }
      print(`namespace/${ns} ${(await store.delete('Namespace', ns)) ? 'deleted' : 'not found'}`);
    }
  }
  await runServiceController(store);
  await syncPolicy(lab, print);
  await syncServices(lab, print);
}
