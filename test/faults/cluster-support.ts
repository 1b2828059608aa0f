// Checks for the cluster faults: a 2-node lab with pods a (node-1), c (node-1) and b (node-2) and
// the policy "b admits only a". After a fault: a→b connects (no connectivity lost), c→b is
// blocked (the policy is in node-2's kernel), every address is held once, every node's blocks
// agree between the agent, its cache and the datastore and no block is held twice.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentRequest } from '../../src/cli/client.js';
import type { Lab } from '../../src/lab/lab.js';
import { waitFor } from '../../src/lab/processes.js';
import { LabKubelet } from '../../src/lab/kubelet.js';
import { probeFrom } from '../../src/lab/pod-sandbox.js';
import { nodeDir, podDir } from '../../src/lab/state.js';

export const NS = 'f';

export const PODS_YAML = `apiVersion: v1
kind: Namespace
metadata: { name: ${NS} }
---
${['a:node-1', 'c:node-1', 'b:node-2'].map((x) => {
  const [n, node] = x.split(':');
  return `apiVersion: v1\nkind: Pod\nmetadata: { name: ${n}, namespace: ${NS}, labels: { app: ${n} } }\nspec:\n  nodeName: ${node}\n  containers: [{ name: c, ports: [{ containerPort: 80 }] }]\n---\n`;
}).join('')}`;

export const policyYaml = (name: string, from: string): string =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: ${NS} }\nspec:\n  podSelector: { matchLabels: { app: b } }\n  ingress: [{ from: [{ podSelector: { matchLabels: { app: ${from} } } }] }]\n---\n`;

/** Every agent of the lab has applied the policies it knows (POST /v1/policy/sync answered). */
export async function syncPolicy(lab: Lab): Promise<void> {
  for (const n of lab.state.nodes) {
    await waitFor(`policy on ${n.name}`, () => agentRequest(lab.socket(n.name), 'POST', '/v1/policy/sync', undefined, 8000).then(() => true, () => false), 30_000, 200);
  }
}

export async function reaches(lab: Lab, from: string, to: string): Promise<boolean> {
  const target = (await new LabKubelet(lab).record(NS, to))!;
  const [r] = await probeFrom(podDir(lab.name, NS, from), [{ ip: target.ip, port: 80, protocol: 'tcp', timeoutMs: 700 }]);
  return !!r?.connected;
}

interface Status {
  attachments: { id: string; ips: string[] }[];
  cluster?: { blocks?: string[]; datastore: { connected: boolean } };
  problems?: { id: string; message: string }[];
  policy?: { failures?: number; lastFailure?: { error: string } };
}

export async function status(lab: Lab, node: string): Promise<Status> {
  return (await lab.agentStatus(node)) as unknown as Status;
}

/** Everything that must hold after a fault; empty when it all does. */
export async function clusterProblems(lab: Lab, opts: { policy?: 'enforced' | 'absent' } = {}): Promise<string[]> {
  const out: string[] = [];
  if (!(await reaches(lab, 'a', 'b'))) out.push('a cannot reach b (connectivity lost)');
  const cb = await reaches(lab, 'c', 'b');
  if ((opts.policy ?? 'enforced') === 'enforced' && cb) out.push('c reaches b: the policy is missing from the kernel');
  if (opts.policy === 'absent' && !cb) out.push('c cannot reach b although no policy admits only a');
  const ips: string[] = [];
  const blocks = new Map<string, string>();
  const store = await lab.store();
  const stored = (await store.list('IPAMBlock')).items;
  for (const n of lab.state.nodes) {
    const st = await status(lab, n.name);
    ips.push(...st.attachments.flatMap((a) => a.ips));
    const mine = (st.cluster?.blocks ?? []).sort();
    const cache = (JSON.parse(await readFile(join(nodeDir(lab.name, n.name), 'state', 'blocks.json'), 'utf8')) as { blocks: string[] }).blocks.sort();
    const inStore = stored.filter((b) => b.spec.node === n.name).map((b) => b.spec.cidr).sort();
    if (mine.join() !== cache.join() || mine.join() !== inStore.join()) out.push(`${n.name}: blocks agent ${mine.join(',')} cache ${cache.join(',')} datastore ${inStore.join(',')}`);
    for (const b of mine) {
      if (blocks.has(b)) out.push(`block ${b} held by ${blocks.get(b)} and ${n.name}`);
      blocks.set(b, n.name);
    }
  }
  if (new Set(ips).size !== ips.length) out.push(`an address is held twice: ${ips.sort().join(',')}`);
  return out;
}

/** Log lines at warn or error since `offsets` (per node), joined. */
export async function loudLinesSince(lab: Lab, offsets: Map<string, number>): Promise<string> {
  let out = '';
  for (const n of lab.state.nodes) {
    const text = await readFile(join(nodeDir(lab.name, n.name), 'agent.log'), 'utf8');
    out += text.slice(offsets.get(n.name) ?? 0).split('\n').filter((l) => / (WARN|ERROR) /.test(l)).join('\n') + '\n';
  }
  return out;
}

export async function logOffsets(lab: Lab): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const n of lab.state.nodes) m.set(n.name, (await readFile(join(nodeDir(lab.name, n.name), 'agent.log'), 'utf8')).length);
  return m;
}

/**
 * What each agent says about its convergence (connected, routing run, peers applied, last error)
 * and its last loud log lines: put in a failed run's note, so a timeout is diagnosable.
 */
export async function convergenceSnapshot(lab: Lab): Promise<string> {
  const out: string[] = [];
  for (const n of lab.state.nodes) {
    const st = await lab.agentStatus(n.name, 2000).catch((e: unknown) => ({ error: String(e) }) as never);
    const s = st as Awaited<ReturnType<Lab['agentStatus']>> & { error?: string };
    const log = await readFile(join(nodeDir(lab.name, n.name), 'agent.log'), 'utf8').catch(() => '');
    const loud = log.split('\n').filter((l) => / (WARN|ERROR) /.test(l)).slice(-3).map((l) => l.slice(0, 300));
    out.push(`${n.name}: ${s.error ?? `connected=${s.cluster?.datastore.connected} peers=${s.cluster?.peers.map((p) => p.name).join(',')} routing=${JSON.stringify(s.routing?.applied)} runs=${s.routing?.runs} lastError=${s.routing?.lastError ?? '-'}`} | ${loud.join(' / ')}`);
  }
  return out.join('\n');
}
