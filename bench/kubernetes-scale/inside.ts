// The bench inside its network namespace: control plane, objects, the agent, measurements.
import { spawn, type ChildProcess } from 'node:child_process';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentRequest } from '../../src/cli/client.js';
import { KubernetesStore } from '../../src/datastore/kubernetes/store.js';
import { POD_IPS_ANNOTATION } from '../../src/datastore/kubernetes/resources.js';
import { revokeLease } from '../../src/datastore/kubernetes/lease.js';
import { startControlPlane } from '../../src/datastore/kubernetes/testing/control-plane.js';
import { AGENT_RUNTIME_ENV } from '../../src/deploy/manifest.js';
import { twillBin } from '../../src/util/paths.js';
import { populate, SELF, type Scale } from './populate.js';

const RSS_FLOOR_MB = 150;
const RECONCILE_FLOOR_S = 10;
const log = (s: string): void => void process.stderr.write(`${s}\n`);

interface ProcSample {
  rssMB: number;
  hwmMB: number;
  cpuSeconds: number;
}

async function sampleProc(pid: number): Promise<ProcSample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 (1-based; 12 and 13 after the command), in clock ticks.
  const cpuSeconds = (Number(stat[11]) + Number(stat[12])) / 100;
  return { rssMB: +(kb('VmRSS') / 1024).toFixed(1), hwmMB: +(kb('VmHWM') / 1024).toFixed(1), cpuSeconds };
}

interface AgentStatus {
  routing?: { firstAppliedAt?: string; applied?: { peers: number } };
  policy?: { ready: boolean; firstFullReconcileAt?: string; lastDurationMs?: number };
  apiTraffic?: { bytesIn: number; requests: number };
  memoryMB?: Record<string, number>;
}

/** Latency from publishing a pod's address (as an agent does at ADD) to a watcher decoding it. */
async function publishLatency(store: KubernetesStore, admin: KubernetesStore, samples: number): Promise<{ p50Ms: number; maxMs: number; samples: number }> {
  const seen = new Map<string, number>();
  const { revision } = await store.list('Pod', { namespace: 'ks-0' });
  const w = store.watch('Pod', {
    fromRevision: revision,
    onEvent: (ev) => {
      if (ev.type === 'MODIFIED' && ev.object.status?.podIPs?.length && ev.object.metadata.name.startsWith('late-')) seen.set(ev.object.metadata.name, performance.now());
    },
  });
  const lat: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const name = `late-${i}`;
      await admin.create({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ks-0', name }, spec: { nodeName: 'ks-node-1', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } });
      const t0 = performance.now();
      await admin.client.request(`/api/v1/namespaces/ks-0/pods/${name}`, { method: 'PATCH', contentType: 'application/merge-patch+json', body: { metadata: { annotations: { [POD_IPS_ANNOTATION]: `10.67.250.${i + 2}` } } }, what: 'publish' });
      for (let k = 0; k < 500 && !seen.has(name); k++) await sleep(2);
      const at = seen.get(name);
      if (at !== undefined) lat.push(at - t0);
    }
  } finally {
    w.stop();
  }
  lat.sort((a, b) => a - b);
  return { p50Ms: +(lat[Math.floor(lat.length / 2)] ?? NaN).toFixed(1), maxMs: +(lat.at(-1) ?? NaN).toFixed(1), samples: lat.length };
}

/**
 * --keep: the objects of an earlier run with the same scale stay; what that run's agent and
 * publish test wrote goes (the agent's lease with its TwillNode and block, the late pods), and the
 * agent's own folders start empty, so the agent under test joins as a new node again.
 */
async function reuseObjects(admin: KubernetesStore, dir: string, scale: Scale): Promise<boolean> {
  const marker = join(dir, 'populated.json');
  const had = await readFile(marker, 'utf8').then((t) => t, () => undefined);
  if (had !== JSON.stringify(scale)) return false;
  const leases = await admin.client.request<{ items: { metadata: { name: string } }[] }>(`/apis/coordination.k8s.io/v1/namespaces/twill-system/leases`, { what: 'listing leases' });
  for (const l of leases.items) if (!l.metadata.name.startsWith('twill-sim-')) await revokeLease(admin.client, 'twill-system', l.metadata.name);
  // No kubelet finishes a pod's graceful deletion here: delete them at once.
  const now = { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 };
  for (const p of (await admin.list('Pod', { namespace: 'ks-0' })).items) {
    if (p.metadata.name.startsWith('late-')) await admin.client.request(`/api/v1/namespaces/ks-0/pods/${p.metadata.name}`, { method: 'DELETE', body: now, what: 'deleting a late pod' });
  }
  for (const d of ['state', 'run', 'agent.log', 'agent.sock']) await rm(join(dir, d), { recursive: true, force: true });
  return true;
}

export async function runInside(o: Scale & { dir: string; nodeOptions: string; nodeFlags: string[]; keep: boolean }): Promise<Record<string, unknown>> {
  log(`starting etcd and kube-apiserver in ${o.dir}`);
  // NamespaceLifecycle stays on (namespaces are created first); no ServiceAccount controller runs.
  const cp = await startControlPlane({ dir: o.dir, disableAdmission: ['ServiceAccount'] });
  let agent: ChildProcess | undefined;
  const admin = new KubernetesStore({ access: cp.access });
  const watcher = new KubernetesStore({ access: cp.access });
  try {
    const scale: Scale = { nodes: o.nodes, pods: o.pods, policies: o.policies, namespaces: o.namespaces };
    const reused = o.keep && (await reuseObjects(admin, o.dir, scale));
    let creation: Record<string, number> = {};
    if (reused) log(`reusing the objects of an earlier run in ${o.dir}`);
    else {
      log(`creating ${o.nodes} nodes, ${o.pods} pods, ${o.policies} policies in ${o.namespaces} namespaces`);
      creation = await populate(admin.client, o, log);
      log(`created: ${JSON.stringify(creation)}`);
      if (o.keep) await writeFile(join(o.dir, 'populated.json'), JSON.stringify(scale));
    }

    const agentLog = await open(join(o.dir, 'agent.log'), 'a');
    const socket = join(o.dir, 'agent.sock');
    const argv = [twillBin(), 'agent', '--datastore', 'kubernetes', '--kubeconfig', cp.kubeconfig, '--node-name', SELF, '--state-dir', join(o.dir, 'state'), '--run-dir', join(o.dir, 'run'), '--socket', socket, '--log-level', 'info'];
    const t0 = Date.now();
    agent = spawn(process.execPath, [...o.nodeFlags, ...argv], { stdio: ['ignore', agentLog.fd, agentLog.fd], env: { ...process.env, ...AGENT_RUNTIME_ENV, NODE_OPTIONS: o.nodeOptions } });
    await agentLog.close();
    const pid = agent.pid!;
    let exited = false;
    agent.once('exit', () => (exited = true));

    let st: AgentStatus = {};
    let peak: ProcSample = { rssMB: 0, hwmMB: 0, cpuSeconds: 0 };
    const deadline = t0 + 120_000;
    for (;;) {
      if (exited) throw new Error('the agent exited during start-up');
      if (Date.now() > deadline) throw new Error(`no full reconcile within 120 s: ${JSON.stringify(st)}`);
      peak = await sampleProc(pid).catch(() => peak);
      st = await agentRequest<AgentStatus>(socket, 'GET', '/v1/status', undefined, 5000).catch(() => st);
      if (st.routing?.firstAppliedAt && st.routing.applied?.peers === o.nodes - 1 && st.policy?.firstFullReconcileAt) break;
      await sleep(50);
    }
    const routesAt = Date.parse(st.routing!.firstAppliedAt!) - t0;
    const policyAt = Date.parse(st.policy!.firstFullReconcileAt!) - t0;
    const atReady = await sampleProc(pid);
    const bytesAtReady = st.apiTraffic?.bytesIn ?? 0;
    log(`agent reconciled: routes after ${routesAt} ms, policy after ${policyAt} ms; measuring 15 s of steady state`);
    await sleep(15_000);
    const steady = await sampleProc(pid);
    const after = await agentRequest<AgentStatus>(socket, 'GET', '/v1/status');
    const publish = await publishLatency(watcher, admin, 20);
    const agentLines = (await readFile(join(o.dir, 'agent.log'), 'utf8')).split('\n').filter((l) => /joined the cluster|agent ready|reported the node network|WARN|ERROR/.test(l));
    log(`agent log:\n${agentLines.slice(0, 20).join('\n')}`);

    const firstFullReconcileS = +(Math.max(routesAt, policyAt) / 1000).toFixed(2);
    const rssMB = Math.max(steady.hwmMB, atReady.hwmMB);
    return {
      bench: 'kubernetes-scale',
      scale: { nodes: o.nodes, pods: o.pods, policies: o.policies, namespaces: o.namespaces },
      agentRuntimeEnv: { ...AGENT_RUNTIME_ENV, NODE_OPTIONS: o.nodeOptions },
      ...(o.nodeFlags.length ? { agentNodeFlags: o.nodeFlags } : {}),
      loadAverage1m: loadavg()[0],
      apiObjectCreationMs: creation,
      objectsReused: reused,
      agent: {
        firstFullReconcileS,
        routesProgrammedMs: routesAt,
        policyReconciledMs: policyAt,
        rssMB: steady.rssMB,
        rssPeakMB: rssMB,
        cpuSecondsToReconcile: atReady.cpuSeconds,
        cpuSecondsSteady15s: +(steady.cpuSeconds - atReady.cpuSeconds).toFixed(2),
        apiBytesToReconcile: bytesAtReady,
        apiBytesTotal: after.apiTraffic?.bytesIn,
        apiRequests: after.apiTraffic?.requests,
        processMemoryMB: after.memoryMB,
      },
      podAddressPublishToWatcher: publish,
      floors: { rssMB: RSS_FLOOR_MB, firstFullReconcileS: RECONCILE_FLOOR_S },
      floorsMet: rssMB <= RSS_FLOOR_MB && firstFullReconcileS <= RECONCILE_FLOOR_S,
    };
  } finally {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await Promise.race([new Promise((r) => agent!.once('exit', r)), sleep(5000)]);
      if (agent.exitCode === null) agent.kill('SIGKILL');
    }
    await admin.close();
    await watcher.close();
    await cp.stop();
  }
}
