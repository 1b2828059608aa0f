// A lab pod: a network namespace (the sandbox), wired by CNI ADD through the node's runtime, with
// the pod server running inside it. Removal is DEL, then the server, then the namespace.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { createNetns, deleteNetns, netnsPath } from '../dataplane/kernel/netns.js';
import { projectRoot } from '../util/paths.js';
import { agentRequest } from '../cli/client.js';
import type { CniRuntime, ConfList, RuntimeConf } from './cni-runtime.js';
import { startDetached, stopPidFile, waitFor } from './processes.js';
import type { ProbeOutcome, ProbeTarget } from './pod-server.js';

export interface SandboxSpec {
  lab: string;
  namespace: string;
  name: string;
  uid: string;
  /** Pod directory (server pid/log/control socket). */
  dir: string;
  ports: { port: number; protocol: 'tcp' | 'udp' }[];
}

/** Namespace names must be unique per host; the hash keeps long pod names within limits. */
export function sandboxNetns(lab: string, namespace: string, name: string): string {
  const h = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 8);
  return `twl-${lab}-p-${`${namespace}-${name}`.slice(0, 40)}-${h}`;
}

export function containerId(lab: string, namespace: string, name: string, uid: string): string {
  return createHash('sha256').update(`${lab}/${namespace}/${name}/${uid}`).digest('hex').slice(0, 32);
}

export function runtimeConf(s: SandboxSpec): RuntimeConf {
  return {
    containerId: containerId(s.lab, s.namespace, s.name, s.uid),
    netns: netnsPath(sandboxNetns(s.lab, s.namespace, s.name)),
    ifname: 'eth0',
    args: { K8S_POD_NAMESPACE: s.namespace, K8S_POD_NAME: s.name, K8S_POD_INFRA_CONTAINER_ID: containerId(s.lab, s.namespace, s.name, s.uid), K8S_POD_UID: s.uid },
  };
}

export const controlSocket = (dir: string): string => join(dir, 'control.sock');

/** Creates the sandbox and runs CNI ADD; returns the pod's IPv4 address. Undoes itself on failure. */
export async function createSandbox(s: SandboxSpec, runtime: CniRuntime, conflist: ConfList): Promise<{ ip: string; result: unknown }> {
  const ns = sandboxNetns(s.lab, s.namespace, s.name);
  await createNetns(ns);
  const rt = runtimeConf(s);
  let result: unknown;
  try {
    result = await runtime.addNetworkList(conflist, rt);
  } catch (e) {
    await deleteNetns(ns);
    throw e;
  }
  const ip = ((result as { ips?: { address: string }[] }).ips?.[0]?.address ?? '').split('/')[0] ?? '';
  try {
    await startPodServer(s, ns);
  } catch (e) {
    // The server's failure is the error to throw; a failed undo is said, not hidden.
    await runtime.delNetworkList(conflist, rt).catch((d: unknown) => console.error(`lab: undoing ${s.name}'s network after its server failed: ${String(d)}`));
    await deleteNetns(ns);
    throw e;
  }
  return { ip, result };
}

async function startPodServer(s: SandboxSpec, ns: string): Promise<void> {
  const control = controlSocket(s.dir);
  await startDetached({
    netns: ns,
    argv: [process.execPath, join(projectRoot(), 'dist', 'pod-server.js'), `${s.namespace}/${s.name}`, control, ...s.ports.map((p) => `${p.port}/${p.protocol}`)],
    logFile: join(s.dir, 'server.log'),
    pidFile: join(s.dir, 'server.pid'),
  });
  await waitFor(`pod server ${s.namespace}/${s.name}`, async () => {
    await agentRequest(control, 'POST', '/probe', { targets: [] }, 500);
    return true;
  }, 10_000);
}

/** DEL, stop the server, remove the namespace. Safe to repeat. */
export async function removeSandbox(s: SandboxSpec, runtime: CniRuntime, conflist: ConfList): Promise<void> {
  await runtime.delNetworkList(conflist, runtimeConf(s));
  await stopPidFile(join(s.dir, 'server.pid'), 1000);
  await deleteNetns(sandboxNetns(s.lab, s.namespace, s.name));
  await rm(s.dir, { recursive: true, force: true });
}

/** Asks the pod's server to probe targets from inside the pod. */
export async function probeFrom(dir: string, targets: ProbeTarget[]): Promise<ProbeOutcome[]> {
  const maxTimeout = Math.max(1000, ...targets.map((t) => t.timeoutMs));
  const r = await agentRequest<{ results: ProbeOutcome[] }>(controlSocket(dir), 'POST', '/probe', { targets }, maxTimeout + 5000);
  return r.results;
}
