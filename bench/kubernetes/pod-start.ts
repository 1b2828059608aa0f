// Pod start latency on a Kubernetes lab: a batch of pods is created with one kubectl call while a
// watch (started first) records when each turns Running; a pod's figure is that moment minus the
// moment before the create. Same client, same images, same scheduler for every CNI compared.
import { spawn } from 'node:child_process';
import { kubectlTarget } from '../../src/lab/kubernetes/cluster.js';
import { kubectl, kubectlArgv } from '../../src/lab/kubernetes/kubectl.js';
import { PAUSE_IMAGE } from '../../src/lab/kubernetes/node-runtime.js';
import type { LabState } from '../../src/lab/state.js';

function podsYaml(batch: string, count: number): string {
  return Array.from({ length: count }, (_, i) => `apiVersion: v1
kind: Pod
metadata: { name: ${batch}-${i}, namespace: default, labels: { batch: ${batch} } }
spec:
  terminationGracePeriodSeconds: 0
  containers: [{ name: main, image: ${PAUSE_IMAGE} }]
`).join('---\n');
}

/** Creates `count` pods, returns each one's created → Running time (ms), then deletes them. */
export async function podStartBatch(s: LabState, batch: string, count: number, timeoutMs = 120_000): Promise<number[]> {
  const t = kubectlTarget(s);
  const argv = kubectlArgv(t, ['get', 'pods', '-n', 'default', '-l', `batch=${batch}`, '--watch', '-o', 'jsonpath={.metadata.name} {.status.phase}{"\\n"}']);
  const watch = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const running = new Map<string, number>();
  let buf = '';
  let resolveAll: () => void = () => undefined;
  const all = new Promise<void>((r) => (resolveAll = r));
  watch.stdout.on('data', (d: Buffer) => {
    const now = performance.now();
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const [name, phase] = buf.slice(0, i).split(' ');
      buf = buf.slice(i + 1);
      if (phase === 'Running' && name && !running.has(name)) running.set(name, now);
      if (running.size === count) resolveAll();
    }
  });
  try {
    await new Promise((r) => setTimeout(r, 500)); // the watch is established before the create
    const t0 = performance.now();
    await kubectl(t, ['create', '-f', '-'], { input: podsYaml(batch, count) });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`${batch}: only ${running.size}/${count} pods Running after ${timeoutMs} ms`)), timeoutMs)));
    await Promise.race([all, late]).finally(() => clearTimeout(timer));
    return [...running.values()].map((x) => Math.round(x - t0));
  } finally {
    watch.kill();
    await kubectl(t, ['delete', 'pods', '-n', 'default', '-l', `batch=${batch}`, '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 }).catch(() => undefined);
  }
}
