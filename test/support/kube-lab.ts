// Helpers for tests on a Kubernetes lab: kubectl with a manifest on stdin, pods by label, TCP
// servers and streams run inside pods' network namespaces (entered from the host, so any image —
// even pause — will do), and the routes of a node.
import { spawn, type ChildProcess } from 'node:child_process';
import { run } from '../../src/dataplane/kernel/exec.js';
import { kubectlTarget, recentWarnings } from '../../src/lab/kubernetes/cluster.js';
import { kubectl, kubectlJson } from '../../src/lab/kubernetes/kubectl.js';
import { podNetnsPath, type KubePod } from '../../src/lab/kubernetes/pods.js';
import type { LabState } from '../../src/lab/state.js';
import type { TestScope } from './scope.js';

export const applyText = async (s: LabState, yaml: string): Promise<void> => {
  await kubectl(kubectlTarget(s), ['apply', '-f', '-'], { input: yaml });
};

export async function podsByLabel(s: LabState, selector: string, ns = 'default'): Promise<KubePod[]> {
  return (await kubectlJson<{ items: KubePod[] }>(kubectlTarget(s), ['get', 'pods', '-n', ns, '-l', selector])).items;
}

/** A Deployment of `replicas` pause pods labelled app=NAME, spread one per node. */
export function spreadDeployment(name: string, replicas: number, image: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: default }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      terminationGracePeriodSeconds: 1
      topologySpreadConstraints:
      - { maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: { matchLabels: { app: ${name} } } }
      containers:
      - { name: main, image: ${image}, ports: [{ containerPort: 8080 }] }
`;
}

const ECHO = `require('node:net').createServer((c)=>{c.on('error',()=>{});c.pipe(c)}).listen(Number(process.argv[1]),()=>console.log('listening'))`;

// Sends a numbered line every 20 ms and checks each echo comes back in order; prints "ok N" lines.
const STREAM = `const s=require('node:net').connect({host:process.argv[1],port:Number(process.argv[2])});let sent=0,got=0,buf='';
s.on('connect',()=>{console.log('connected');setInterval(()=>{s.write(++sent+'\\n')},20);setInterval(()=>console.log('ok '+got),200)});
s.on('data',(d)=>{buf+=d;let i;while((i=buf.indexOf('\\n'))>=0){const n=Number(buf.slice(0,i));buf=buf.slice(i+1);if(n!==got+1){console.log('err order '+n+' after '+got);process.exit(1)}got=n}});
s.on('error',(e)=>{console.log('err '+(e.code||e));process.exit(1)});s.on('close',()=>{console.log('err closed');process.exit(1)});`;

function inPod(scope: TestScope, netns: string, script: string, args: string[]): ChildProcess {
  const child = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  scope.defer(() => {
    child.kill('SIGKILL');
  });
  return child;
}

/** Waits for a line matching `re` on the child's stdout. */
export function waitLine(child: ChildProcess, re: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; got: ${buf.slice(-300)}`)), timeoutMs);
    const on = (d: Buffer) => {
      buf += d.toString();
      const m = buf.split('\n').find((l) => re.test(l));
      if (m) {
        clearTimeout(t);
        child.stdout!.off('data', on);
        resolve(m);
      }
    };
    child.stdout!.on('data', on);
  });
}

export async function echoServer(scope: TestScope, s: LabState, pod: KubePod, port: number): Promise<void> {
  const child = inPod(scope, await podNetnsPath(s, pod), ECHO, [String(port)]);
  await waitLine(child, /^listening$/);
}

/** A TCP stream from `from` to ip:port; `got()` is how many echoes came back, `failure()` why it stopped. */
export async function tcpStream(scope: TestScope, s: LabState, from: KubePod, ip: string, port: number): Promise<{ got: () => number; failure: () => string | undefined }> {
  const child = inPod(scope, await podNetnsPath(s, from), STREAM, [ip, String(port)]);
  let got = 0;
  let failure: string | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n')) {
      if (l.startsWith('ok ')) got = Number(l.slice(3));
      else if (l.startsWith('err')) failure ??= l;
    }
  });
  child.on('exit', (c) => {
    failure ??= `stream process exited (${c})`;
  });
  await waitLine(child, /^connected$/);
  return { got: () => got, failure: () => failure };
}

/** Every route of a node (all tables), normalised, for before/after comparisons. */
export async function nodeRoutes(netns: string): Promise<string> {
  const r = await run('ip', ['-n', netns, 'route', 'show', 'table', 'all']);
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean).sort().join('\n');
}

type DiagPod = KubePod & { status: KubePod['status'] & { containerStatuses?: { restartCount: number; state?: Record<string, { reason?: string }>; lastState?: Record<string, { reason?: string; exitCode?: number }> }[] } };

/**
 * A short account of a Kubernetes lab for a failed test's message (CI shows only the end of the
 * output): each node's Ready condition, every pod that is not Running or restarted, and the last
 * lines of Twill's agent logs. Never throws: a diagnosis that fails says so in its text.
 */
export async function diagnose(s: LabState, twillLines = 4): Promise<string> {
  const t = kubectlTarget(s);
  const out: string[] = [];
  try {
    const nodes = await kubectlJson<{ items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } }[] }>(t, ['get', 'nodes']);
    for (const n of nodes.items) {
      const r = n.status?.conditions?.find((c) => c.type === 'Ready');
      out.push(`node ${n.metadata.name}: Ready=${r?.status ?? '?'} ${r?.reason ?? ''} ${(r?.message ?? '').slice(0, 120)}`);
    }
    const pods = await kubectlJson<{ items: DiagPod[] }>(t, ['get', 'pods', '-A']);
    for (const p of pods.items) {
      const cs = p.status.containerStatuses ?? [];
      const restarts = cs.reduce((a, c) => a + c.restartCount, 0);
      if (p.status.phase === 'Running' && restarts === 0) continue;
      const why = cs.map((c) => Object.values(c.state ?? {})[0]?.reason ?? Object.values(c.lastState ?? {})[0]?.reason).filter(Boolean).join(',');
      out.push(`pod ${p.metadata.namespace}/${p.metadata.name} on ${p.spec.nodeName ?? '-'}: ${p.status.phase} restarts=${restarts} ${why}`);
    }
    // A pod stuck before its containers start (a volume that cannot mount, an image not found)
    // says why only in events.
    for (const w of await recentWarnings(t, 8)) out.push(`event ${w}`);
    for (const p of pods.items.filter((x) => x.metadata.labels?.['app.kubernetes.io/name'] === 'twill')) {
      const r = await kubectl(t, ['logs', '-n', p.metadata.namespace, p.metadata.name, '--tail', String(twillLines)]).catch((e: Error) => ({ stdout: `(no logs: ${e.message.slice(0, 100)})` }));
      for (const l of r.stdout.trim().split('\n')) out.push(`${p.spec.nodeName}: ${l.slice(0, 200)}`);
    }
  } catch (e) {
    out.push(`(diagnosis failed: ${(e as Error).message.slice(0, 200)})`);
  }
  return out.join('\n');
}
