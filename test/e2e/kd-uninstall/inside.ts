// Runs inside a node network namespace made by ../kd-uninstall.test.ts (its loopback is private,
// so the control plane, the agent and its kernel objects all live and die there): a real
// kube-apiserver with deploy/'s objects, one `twill agent --datastore kubernetes` with the
// DaemonSet's flags, one pod wired through twill-cni. Then: SIGTERM with the DaemonSet in place
// (an update) and SIGTERM after the DaemonSet is deleted (an uninstall). Prints one JSON report.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CONFLIST_NAME } from '../../../src/agent/cni-files.js';
import { run } from '../../../src/dataplane/kernel/exec.js';
import { createNetns, deleteNetns, netnsPath } from '../../../src/dataplane/kernel/netns.js';
import type { KubeClient } from '../../../src/datastore/kubernetes/index.js';
import { startControlPlane } from '../../../src/datastore/kubernetes/testing/control-plane.js';
import { renderObjects, type K8sObject } from '../../../src/deploy/manifest.js';
import { DEFAULT_VALUES } from '../../../src/deploy/values.js';
import { CniRuntime } from '../../../src/lab/cni-runtime.js';
import { twillBin, twillCniDir } from '../../../src/util/paths.js';

const [dir, podNs] = process.argv.slice(2) as [string, string];
const NS = 'kd-un';
const NODE = 'kd-node-1';
const NODE_IP = '192.0.2.10';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => process.stderr.write(`[kd-uninstall] ${m}\n`);

const PLURAL: Record<string, string> = { Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', Role: 'roles', RoleBinding: 'rolebindings', ConfigMap: 'configmaps', DaemonSet: 'daemonsets' };
function collection(o: K8sObject): string {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  return o.metadata.namespace ? `${base}/namespaces/${o.metadata.namespace}/${PLURAL[o.kind]}` : `${base}/${PLURAL[o.kind]}`;
}

async function state(): Promise<{ links: string[]; routes: string[]; tables: string[]; conflist: boolean }> {
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => /^(twl|twill0)/.test(n)).sort();
  const routes = [...(await run('ip', ['route', 'show', 'proto', '116'])).stdout.split('\n'), ...(await run('ip', ['-6', 'route', 'show', 'proto', '116'])).stdout.split('\n')].filter(Boolean).sort();
  const tables = (await run('nft', ['list', 'tables'])).stdout.split('\n').filter((l) => l.includes('twill-')).sort();
  return { links, routes, tables, conflist: existsSync(join(dir, 'net.d', CONFLIST_NAME)) };
}

function startAgent(kubeconfig: string): ChildProcess {
  const argv = [twillBin(), 'agent', '--datastore', 'kubernetes', '--kubeconfig', kubeconfig, '--node-name', NODE, '--lease-namespace', NS,
    '--state-dir', join(dir, 'state'), '--run-dir', join(dir, 'run'), '--socket', join(dir, 'agent.sock'),
    '--cni-conf-dir', join(dir, 'net.d'), '--health-port', '19097', '--owner-daemonset', `${NS}/twill`, '--pool', '10.244.0.0/16'];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
  return child;
}

async function stopAgent(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  return await exited;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function main(): Promise<Record<string, unknown>> {
  for (const c of ['link set lo up', 'link add kdu0 type veth peer name kdu1', `addr add ${NODE_IP}/24 dev kdu0`, 'link set kdu1 up', 'link set kdu0 up', 'route add default via 192.0.2.1']) {
    await run('ip', c.split(' '));
  }
  mkdirSync(join(dir, 'cp'), { recursive: true });
  const cp = await startControlPlane({ dir: join(dir, 'cp'), disableAdmission: ['ServiceAccount'] });
  let admin: KubeClient | undefined;
  let agent: ChildProcess | undefined;
  try {
    admin = cp.admin();
    const a = admin;
    const objects = renderObjects({ ...DEFAULT_VALUES, namespace: NS }).filter((o) => o.kind !== 'CustomResourceDefinition');
    for (const o of objects) await a.request(collection(o), { method: 'POST', body: o, what: `creating ${o.kind} ${o.metadata.name}` });
    await a.request('/api/v1/nodes', { method: 'POST', body: { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } }, what: 'node' });
    await a.request(`/api/v1/nodes/${NODE}/status`, { method: 'PATCH', contentType: 'application/merge-patch+json', body: { status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } }, what: 'node status' });
    await a.request('/api/v1/namespaces/default/pods', { method: 'POST', body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'kd-pod' }, spec: { nodeName: NODE, containers: [{ name: 'c', image: 'kd' }] } }, what: 'pod' });

    log('agent: start');
    agent = startAgent(cp.kubeconfig);
    await waitFor('the conflist (agent ready)', async () => (await state()).conflist);
    const runtime = new CniRuntime({ path: [twillCniDir()], cacheDir: join(dir, 'cni-cache') });
    const conflist = { cniVersion: '1.1.0', name: 'twill', plugins: [{ type: 'twill-cni', agentSocket: join(dir, 'agent.sock') }] };
    await createNetns(podNs);
    const result = await runtime.addNetworkList(conflist, { containerId: 'kd-un-1', netns: netnsPath(podNs), ifname: 'eth0', args: { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'kd-pod' } });
    const installed = await state();

    log('agent: SIGTERM with the DaemonSet in place (an update)');
    const updateExit = await stopAgent(agent);
    const afterUpdate = await state();
    agent = startAgent(cp.kubeconfig);
    await sleep(3000);
    const afterRestart = await state();

    log('deleting the DaemonSet, then SIGTERM (an uninstall)');
    await a.request(`/apis/apps/v1/namespaces/${NS}/daemonsets/twill`, { method: 'DELETE', what: 'deleting the DaemonSet' });
    await sleep(500);
    const uninstallExit = await stopAgent(agent);
    agent = undefined;
    const afterUninstall = await state();
    return { result, installed, updateExit, afterUpdate, afterRestart, uninstallExit, afterUninstall };
  } finally {
    if (agent) agent.kill('SIGKILL');
    admin?.close();
    await cp.stop();
    await deleteNetns(podNs).catch(() => undefined);
  }
}

main().then(
  (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
