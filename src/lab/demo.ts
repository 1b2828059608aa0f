// `twill lab demo`: one node, three pods, wired by calling twill-cni exactly as containerd would,
// then a ping and a TCP check between them. A quick way to see the CNI path work end to end.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createNetns, deleteNetns, listNetns } from '../dataplane/kernel/netns.js';
import { run } from '../dataplane/kernel/exec.js';
import { twillCniDir } from '../util/paths.js';
import { CniRuntime, type ConfList } from './cni-runtime.js';
import { agentSocket, startNodeAgent, stopNodeAgent } from './node-agent.js';
import { createSandbox, probeFrom, removeSandbox, sandboxNetns, type SandboxSpec } from './pod-sandbox.js';

const LAB = 'demo';
const NODE = 'node-1';
const POD_CIDR = '10.244.1.0/24';

export const demoDir = (): string => `/run/twill/labs/${LAB}`;
const nodeNetns = `twl-${LAB}-${NODE}`;

function conflist(socket: string): ConfList {
  return { cniVersion: '1.1.0', name: 'twill', plugins: [{ type: 'twill-cni', agentSocket: socket }] };
}

function podSpecs(): SandboxSpec[] {
  return ['pod-a', 'pod-b', 'pod-c'].map((name) => ({
    lab: LAB, namespace: 'default', name, uid: `uid-${name}`, dir: join(demoDir(), 'pods', `default_${name}`), ports: [{ port: 8080, protocol: 'tcp' as const }],
  }));
}

export async function demoDown(): Promise<void> {
  const dir = join(demoDir(), 'nodes', NODE);
  const runtime = new CniRuntime({ path: [twillCniDir(), '/usr/lib/cni'], nodeNetns, cacheDir: join(dir, 'cni-cache') });
  for (const p of podSpecs()) {
    await removeSandbox(p, runtime, conflist(agentSocket(dir))).catch(() => deleteNetns(sandboxNetns(LAB, p.namespace, p.name)));
  }
  await stopNodeAgent(dir);
  for (const ns of await listNetns()) if (ns.startsWith(`twl-${LAB}-`)) await deleteNetns(ns);
  await rm(demoDir(), { recursive: true, force: true });
}

export async function demo(print: (s: string) => void): Promise<boolean> {
  await demoDown();
  const dir = join(demoDir(), 'nodes', NODE);
  await mkdir(dir, { recursive: true });
  print(`Twill one-node demo — node namespace ${nodeNetns}, pod CIDR ${POD_CIDR}`);
  await createNetns(nodeNetns);
  const pid = await startNodeAgent({ nodeName: NODE, netns: nodeNetns, dir, args: ['--pod-cidr', POD_CIDR] });
  print(`  agent     pid ${pid}, API ${agentSocket(dir)}, log ${join(dir, 'agent.log')}`);
  const runtime = new CniRuntime({ path: [twillCniDir(), '/usr/lib/cni'], nodeNetns, cacheDir: join(dir, 'cni-cache') });
  const ips = new Map<string, string>();
  for (const p of podSpecs()) {
    await mkdir(p.dir, { recursive: true });
    const t0 = performance.now();
    const { ip } = await createSandbox(p, runtime, conflist(agentSocket(dir)));
    ips.set(p.name, ip);
    print(`  ${p.name.padEnd(9)} ${ip.padEnd(15)} netns ${sandboxNetns(LAB, p.namespace, p.name)}  (CNI ADD + sandbox ${Math.round(performance.now() - t0)} ms)`);
  }
  let ok = 0;
  let total = 0;
  const pods = podSpecs();
  for (const from of pods) {
    for (const to of pods) {
      if (from === to) continue;
      total += 2;
      const ping = await run('ip', ['netns', 'exec', sandboxNetns(LAB, from.namespace, from.name), 'ping', '-c', '1', '-W', '1', ips.get(to.name)!]).then(() => true, () => false);
      const [tcp] = await probeFrom(from.dir, [{ ip: ips.get(to.name)!, port: 8080, protocol: 'tcp', timeoutMs: 1000 }]);
      ok += (ping ? 1 : 0) + (tcp?.connected ? 1 : 0);
      print(`  ${from.name} → ${to.name}: ping ${ping ? 'ok' : 'FAILED'}, tcp/8080 ${tcp?.connected ? `ok ("${tcp.detail.split(' ')[0]}")` : `FAILED (${tcp?.detail ?? '?'})`}`);
    }
  }
  print('');
  print(`${ok === total ? 'OK' : 'FAILED'}: 3 pods wired by twill-cni; ${ok}/${total} checks passed.`);
  print(`  see it:   twill status --socket ${agentSocket(dir)}`);
  print(`  pod view: ip netns exec ${sandboxNetns(LAB, 'default', 'pod-a')} ip addr`);
  print('  remove:   twill lab down --name demo');
  return ok === total;
}
