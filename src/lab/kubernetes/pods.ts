// Reaching into a Kubernetes lab's pods from the host: which node runs a pod, its sandbox's
// network namespace (the pause process, through the node's crictl), and the reachability probe.
import { run } from '../../dataplane/kernel/exec.js';
import { TwillError } from '../../util/errors.js';
import { mapLimit } from '../../util/mutex.js';
import type { LabState } from '../state.js';
import type { ProbeOptions, ProbeResult } from '../probe.js';
import { kubectlTarget, nodeHost } from './cluster.js';
import { external } from './externals.js';
import { kubectlJson } from './kubectl.js';
import { hostPath } from './node-host.js';

export interface KubePod {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string> };
  spec: { nodeName?: string; hostNetwork?: boolean; containers: { name: string; ports?: { containerPort: number; protocol?: string }[] }[] };
  status: { phase?: string; podIP?: string };
}

export async function listPods(s: LabState, namespaces?: string[]): Promise<KubePod[]> {
  const all = (await kubectlJson<{ items: KubePod[] }>(kubectlTarget(s), ['get', 'pods', '-A'])).items;
  return all.filter((p) => !namespaces?.length || namespaces.includes(p.metadata.namespace));
}

export async function getPod(s: LabState, ns: string, name: string): Promise<KubePod> {
  return kubectlJson<KubePod>(kubectlTarget(s), ['get', 'pod', '-n', ns, name]);
}

/** crictl on a node, through the node's containerd socket (seen from the host). */
export async function crictl(s: LabState, node: string, args: string[]): Promise<string> {
  const sock = hostPath(nodeHost(s.name, node), '/run/containerd/containerd.sock');
  return (await run(external('crictl'), ['--runtime-endpoint', `unix://${sock}`, '--timeout', '10s', ...args])).stdout;
}

/** The network namespace of a pod's sandbox, as a /proc path the host can enter. */
export async function podNetnsPath(s: LabState, pod: KubePod): Promise<string> {
  const node = pod.spec.nodeName;
  if (!node) throw new TwillError('TRY_AGAIN', `pod ${pod.metadata.namespace}/${pod.metadata.name} is not scheduled yet`);
  const ids = (await crictl(s, node, ['pods', '-q', '--state', 'Ready', '--namespace', pod.metadata.namespace, '--name', pod.metadata.name])).trim().split('\n').filter(Boolean);
  for (const id of ids) {
    const info = JSON.parse(await crictl(s, node, ['inspectp', id])) as { status?: { metadata?: { uid?: string } }; info?: { pid?: number } };
    if (info.status?.metadata?.uid === pod.metadata.uid && info.info?.pid) return `/proc/${info.info.pid}/ns/net`;
  }
  throw new TwillError('NOT_FOUND', `no running sandbox for pod ${pod.metadata.namespace}/${pod.metadata.name} on ${node}`);
}

// Runs inside the source pod's namespace: TCP connects to each target, one JSON line of results.
const PROBER = `const net=require('node:net');const ts=JSON.parse(process.argv[1]);
Promise.all(ts.map(t=>new Promise(r=>{const s=net.connect({host:t.ip,port:t.port});const done=(ok,d)=>{s.destroy();r({ok,d})};
s.setTimeout(t.timeoutMs,()=>done(false,'timeout'));s.on('connect',()=>done(true));s.on('error',e=>done(false,e.code||String(e)))}))).then(x=>console.log(JSON.stringify(x)))`;

export async function probeInNetns(netnsPath: string, targets: { ip: string; port: number; timeoutMs: number }[]): Promise<{ ok: boolean; d?: string }[]> {
  const r = await run('nsenter', [`--net=${netnsPath}`, '--', process.execPath, '-e', PROBER, JSON.stringify(targets)], { timeoutMs: 30_000 });
  return JSON.parse(r.stdout) as { ok: boolean; d?: string }[];
}

/** The same reachability matrix as the etcd lab's probe (TCP; pods with an IP, not host-network). */
export async function probeKubeLab(s: LabState, o: ProbeOptions): Promise<ProbeResult[]> {
  const pods = (await listPods(s, o.namespaces)).filter((p) => p.status.phase === 'Running' && p.status.podIP && !p.spec.hostNetwork);
  const out: ProbeResult[] = [];
  const id = (p: KubePod) => `${p.metadata.namespace}/${p.metadata.name}`;
  await mapLimit(pods, 8, async (from) => {
    const targets: { ip: string; port: number; timeoutMs: number; to: string }[] = [];
    for (const to of pods) {
      const ports = o.ports?.length ? o.ports : to.spec.containers.flatMap((c) => (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort));
      for (const port of new Set(ports)) targets.push({ ip: to.status.podIP!, port, timeoutMs: o.timeoutMs, to: id(to) });
    }
    if (!targets.length) return;
    const res = await probeInNetns(await podNetnsPath(s, from), targets.map(({ to: _t, ...t }) => t));
    res.forEach((r, i) => out.push({ from: id(from), to: targets[i]!.to, port: targets[i]!.port, protocol: 'tcp', connected: r.ok, ...(r.ok ? {} : { detail: r.d ?? '' }) }));
  });
  return out.sort((a, b) => a.port - b.port || a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
}
