// `lab probe --service NS/NAME` on a Kubernetes lab. The pods there run whatever the user
// deployed, so unlike the etcd lab's pod server no endpoint says who it is; instead each
// connection's entry in the source node's conntrack table names the address it was translated to
// (the DNAT happens on the client's node), and that address names the endpoint pod.
import { run } from '../../dataplane/kernel/exec.js';
import { TwillError } from '../../util/errors.js';
import { mapLimit } from '../../util/mutex.js';
import type { ServiceProbeResult } from '../services/probe.js';
import { nodeNetns, type LabState } from '../state.js';
import { kubectlTarget } from './cluster.js';
import { kubectlJson } from './kubectl.js';
import { listPods, podNetnsPath, type KubePod } from './pods.js';

interface KubeService {
  spec: { clusterIP?: string; ports?: { port: number; protocol?: string }[] };
}

// Runs inside the source pod's namespace: TCP connects to each target one after the other (so
// the spread over endpoints is the datapath's, not a burst's), one JSON line of results with the
// local port of each connection (its conntrack key).
const PROBER = `const net=require('node:net');const ts=JSON.parse(process.argv[1]);
(async()=>{const out=[];for(const t of ts){const t0=Date.now();out.push(await new Promise(r=>{const s=net.connect({host:t.ip,port:t.port});
const done=(ok,d)=>{const p=s.localPort;s.destroy();r({ok,d,sport:p,ms:Date.now()-t0})};
s.setTimeout(t.timeoutMs,()=>done(false,'timeout'));s.on('connect',()=>done(true));s.on('error',e=>done(false,e.code||String(e)))}))}
console.log(JSON.stringify(out))})()`;

interface Outcome {
  ok: boolean;
  d?: string;
  sport?: number;
  ms: number;
}

/** "SRC SPORT" → the address the connection was translated to, from `conntrack -L` text. */
export function parseConntrack(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]!);
    const sport = /\bsport=(\d+)/.exec(line)?.[1];
    if (src.length >= 2 && sport) out.set(`${src[0]} ${sport}`, src[1]!);
  }
  return out;
}

export async function probeKubeService(s: LabState, service: string, o: { count: number; timeoutMs: number; namespaces?: string[] | undefined }): Promise<ServiceProbeResult[]> {
  const [ns, name, extra] = service.split('/');
  if (!ns || !name || extra !== undefined) throw new TwillError('VALIDATION', `--service must be NAMESPACE/NAME, got "${service}"`);
  const svc = await kubectlJson<KubeService>(kubectlTarget(s), ['get', 'service', '-n', ns, name]).catch((e: unknown) => {
    throw new TwillError('NOT_FOUND', `Service ${service} cannot be read in lab ${s.name}`, { cause: e });
  });
  const address = svc.spec.clusterIP;
  if (!address || address === 'None') throw new TwillError('VALIDATION', `Service ${service} has no ClusterIP to probe`);
  const ports = (svc.spec.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.port);
  if (!ports.length) throw new TwillError('VALIDATION', `Service ${service} has no TCP port (a Kubernetes lab probes TCP only)`);
  const all = await listPods(s);
  const byIp = new Map(all.filter((p) => p.status.podIP).map((p) => [p.status.podIP!, `${p.metadata.namespace}/${p.metadata.name}`]));
  const from = all.filter((p) => p.status.phase === 'Running' && p.status.podIP && !p.spec.hostNetwork && (!o.namespaces?.length || o.namespaces.includes(p.metadata.namespace)));
  const out: ServiceProbeResult[] = [];
  await mapLimit(from, 4, async (pod: KubePod) => {
    const targets = ports.flatMap((port) => Array.from({ length: o.count }, () => ({ ip: address, port, timeoutMs: o.timeoutMs })));
    const r = await run('nsenter', [`--net=${await podNetnsPath(s, pod)}`, '--', process.execPath, '-e', PROBER, JSON.stringify(targets)], { timeoutMs: 30_000 + targets.length * o.timeoutMs });
    const res = JSON.parse(r.stdout) as Outcome[];
    const ct = await run('nsenter', [`--net=/run/netns/${nodeNetns(s.name, pod.spec.nodeName!)}`, '--', 'conntrack', '-L', '-p', 'tcp', '-s', pod.status.podIP!, '-d', address], { timeoutMs: 10_000 }).then(
      (x) => parseConntrack(x.stdout),
      () => new Map<string, string>(),
    );
    res.forEach((x, i) => {
      const to = ct.get(`${pod.status.podIP} ${x.sport}`);
      const endpoint = to === undefined ? undefined : (byIp.get(to) ?? to);
      out.push({
        from: `${pod.metadata.namespace}/${pod.metadata.name}`, service, address, port: targets[i]!.port, protocol: 'tcp', connected: x.ok, ms: x.ms,
        ...(x.ok && endpoint ? { endpoint } : {}), ...(x.ok ? {} : { detail: x.d ?? '' }),
      });
    });
  });
  return out.sort((a, b) => a.from.localeCompare(b.from) || a.port - b.port);
}
