// `lab get nodes|pods|networkpolicies`: tables for people, Kubernetes-style lists for machines.
import { agentRequest } from '../cli/client.js';
import type { PolicyStatusEntry } from '../agent/policy-controller.js';
import type { NetworkPolicy } from '../model/types.js';
import { describeError } from '../util/errors.js';
import type { Lab } from './lab.js';
import { LabKubelet } from './kubelet.js';

export type Output = 'text' | 'wide' | 'json';

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ')).join('\n');
}

export async function getNodes(lab: Lab, out: Output): Promise<string> {
  const store = await lab.store();
  const registered = new Map((await store.list('TwillNode')).items.map((n) => [n.metadata.name, n]));
  const pods = await new LabKubelet(lab).records();
  const rows = await Promise.all(
    lab.state.nodes.map(async (n) => {
      const st = await lab.agentStatus(n.name, 2000).catch((e: unknown) => describeError(e));
      return { n, st, reg: registered.get(n.name), pods: pods.filter((p) => p.node === n.name).length };
    }),
  );
  if (out === 'json') {
    return JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'List',
        items: rows.map(({ n, st, reg, pods: count }) => ({
          apiVersion: 'twill.dev/v1alpha1',
          kind: 'TwillNode',
          metadata: { name: n.name },
          spec: reg?.spec ?? { underlayIP: n.underlayIP },
          status: { netns: n.netns, registered: !!reg, agent: typeof st === 'string' ? { error: st } : st, pods: count },
        })),
      },
      null,
      1,
    );
  }
  const head = ['NAME', 'STATUS', 'UNDERLAY-IP', 'BACKEND', 'BLOCKS', 'PODS'];
  if (out === 'wide') head.push('PEERS', 'ROUTES', 'POD-MTU', 'LAST-RECONCILE', 'NETNS');
  const body = rows.map(({ n, st, reg, pods: count }) => {
    const up = typeof st !== 'string';
    const status = !up ? 'AgentDown' : !st.cluster?.datastore.connected ? 'NoDatastore' : st.routing?.lastError ? 'Degraded' : 'Ready';
    const r = [n.name, status, n.underlayIP, reg?.spec.backend ?? '-', (reg?.spec.blocks ?? []).join(',') || '-', String(count)];
    if (out === 'wide') {
      r.push(
        up ? String(st.cluster?.peers.length ?? 0) : '-',
        up ? String(st.routing?.routes ?? '-') : '-',
        up ? String(st.mtu) : '-',
        up ? (st.routing?.lastError ? `error: ${st.routing.lastError}` : `${st.routing?.lastChanges ?? 0} changes`) : '-',
        n.netns,
      );
    }
    return r;
  });
  return table([head, ...body]);
}

export async function getPods(lab: Lab, out: Output): Promise<string> {
  const store = await lab.store();
  const items = (await store.list('Pod')).items.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  if (out === 'json') return JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1);
  const recs = new Map((await new LabKubelet(lab).records()).map((r) => [`${r.namespace}/${r.name}`, r]));
  const head = ['NAMESPACE', 'NAME', 'STATUS', 'IP', 'NODE', 'PORTS'];
  if (out === 'wide') head.push('LABELS', 'NETNS');
  const body = items.map((p) => {
    const rec = recs.get(`${p.metadata.namespace}/${p.metadata.name}`);
    const ports = p.spec.containers.flatMap((c) => (c.ports ?? []).map((x) => `${x.name ? `${x.name}:` : ''}${x.containerPort}/${x.protocol ?? 'TCP'}`)).join(',') || '-';
    const r = [p.metadata.namespace, p.metadata.name, rec ? (p.status?.phase ?? 'Unknown') : 'NotRunning', p.status?.podIP ?? '-', p.spec.nodeName ?? '-', ports];
    if (out === 'wide') r.push(Object.entries(p.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '-', rec?.netns ?? '-');
    return r;
  });
  return items.length ? table([head, ...body]) : 'no pods (apply some with `twill lab apply -f FILE`)';
}

type PolicyView = PolicyStatusEntry;

/** Policy status as each agent sees it, merged (a policy is accepted if every agent accepted it). */
export async function getPolicies(lab: Lab, out: Output): Promise<string> {
  const store = await lab.store();
  const items = (await store.list('NetworkPolicy')).items.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  const views = new Map<string, PolicyView>();
  for (const p of items) views.set(`${p.metadata.namespace}/${p.metadata.name}`, { namespace: p.metadata.namespace, name: p.metadata.name, accepted: true });
  // Accepted means every agent said so: a node that did not answer, or did not list the policy
  // yet, makes the verdict Unknown (unless another node rejected it, which is known).
  const unknownOn = new Map<string, string[]>();
  const unknown = (key: string, node: string): void => void unknownOn.set(key, [...(unknownOn.get(key) ?? []), node]);
  for (const n of lab.state.nodes) {
    let st: { policies: PolicyView[] } | undefined;
    try {
      st = await agentRequest<{ policies: PolicyView[] }>(lab.socket(n.name), 'GET', '/v1/policy/status', undefined, 3000);
    } catch (e) {
      for (const key of views.keys()) unknown(key, `${n.name} (${describeError(e)})`);
      continue;
    }
    const listed = new Set(st.policies.map((v) => `${v.namespace}/${v.name}`));
    for (const key of views.keys()) if (!listed.has(key)) unknown(key, `${n.name} (not seen yet)`);
    for (const v of st.policies) {
      const cur = views.get(`${v.namespace}/${v.name}`);
      if (!cur) continue;
      if (!v.accepted) Object.assign(cur, { accepted: false, reason: v.reason, previousVersionInForce: (cur.previousVersionInForce ?? true) && !!v.previousVersionInForce });
      if (v.counters) {
        cur.counters ??= { allowedPackets: 0, droppedPackets: 0 };
        cur.counters.allowedPackets += v.counters.allowedPackets;
        cur.counters.droppedPackets += v.counters.droppedPackets;
      }
    }
  }
  const verdict = (key: string): string => {
    const v = views.get(key)!;
    if (!v.accepted) return `Rejected${v.previousVersionInForce ? ' (previous version in force)' : ''}: ${v.reason ?? ''}`;
    const on = unknownOn.get(key);
    return on ? `Unknown: no verdict from ${on.join(', ')}` : 'Accepted';
  };
  if (out === 'json') {
    return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: items.map((p) => {
      const key = `${p.metadata.namespace}/${p.metadata.name}`;
      const v = views.get(key)!;
      return { ...p, status: { ...v, accepted: v.accepted && !unknownOn.has(key) ? true : v.accepted ? undefined : false, ...(unknownOn.has(key) && v.accepted ? { unknownOn: unknownOn.get(key) } : {}) } };
    }) }, null, 1);
  }
  const head = ['NAMESPACE', 'NAME', 'POD-SELECTOR', 'STATUS'];
  if (out === 'wide') head.push('ALLOWED-PKTS', 'DROPPED-PKTS');
  const body = items.map((p) => {
    const v = views.get(`${p.metadata.namespace}/${p.metadata.name}`)!;
    // A policy written straight into the store may be malformed (it is then Rejected): never assume its shape.
    const ps = (p.spec as Partial<NetworkPolicy['spec']> | undefined)?.podSelector;
    const labels = ps?.matchLabels !== null && typeof ps?.matchLabels === 'object' ? ps.matchLabels : {};
    const sel = Object.entries(labels).map(([k, x]) => `${k}=${x}`).join(',') || (Array.isArray(ps?.matchExpressions) && ps.matchExpressions.length ? '<expressions>' : ps ? '<all>' : '-');
    const r = [p.metadata.namespace, p.metadata.name, sel, verdict(`${p.metadata.namespace}/${p.metadata.name}`)];
    if (out === 'wide') r.push(String(v.counters?.allowedPackets ?? '-'), String(v.counters?.droppedPackets ?? '-'));
    return r;
  });
  return items.length ? table([head, ...body]) : 'no networkpolicies';
}
