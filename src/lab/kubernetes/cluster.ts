// `twill lab up --kubernetes`: the etcd lab's wires (underlay bridge, one namespace per node)
// with a real cluster on them. The underlay namespace runs etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler on 192.0.2.1; each node runs containerd, runc and the
// kubelet in its own mount namespace; images are imported, never pulled; then the CNI: Twill (the
// operator's `kubectl apply -f deploy/twill.yaml`, or a standalone agent per node) or the
// reference bridge plugins. kube-proxy runs on each node unless the lab is made without it
// (`--no-kube-proxy`): then Twill is installed with kubeProxyReplacement on and serves Services.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TwillError } from '../../util/errors.js';
import { waitFor } from '../processes.js';
import { labDir, loadLab, nodeNetns, saveLab, underlayNetns, validateLabName, type LabCni, type LabState } from '../state.js';
import { createNodeNetns, createUnderlay, nodeUnderlayIp, UNDERLAY_GATEWAY } from '../topology.js';
import { installBasePlugins, bridgeConflist, routePodCidrs, startStandaloneAgent, writeConflist } from './cni-setup.js';
import { startControlPlane, stopControlPlane } from './control-plane.js';
import { external } from './externals.js';
import { labImages, type LabImage } from './images.js';
import { kubectl, kubectlJson, type KubectlTarget } from './kubectl.js';
import { prepareNodeHost, teardownNodeHost, type NodeHost } from './node-host.js';
import { importImages, startContainerd, startKubelet, startKubeProxy, stopNodeRuntime } from './node-runtime.js';
import { deployManifest, installTwill } from './install.js';
import { startProc } from './spawn.js';
import { twillBin } from '../../util/paths.js';
import { renderInstall } from '../../deploy/render.js';
import { DEFAULT_VALUES } from '../../deploy/values.js';

export interface KubeLabOptions {
  name: string;
  nodes: number;
  cni: LabCni;
  /** twill: how to install it; `auto` = the operator's manifest when it exists, else standalone. */
  install: 'auto' | 'deploy' | 'standalone' | 'none';
  pool: string;
  /**
   * false: no kube-proxy on the nodes; Twill is installed with kubeProxyReplacement on and serves
   * Services itself (needs Twill installed from deploy/twill.yaml).
   */
  kubeProxy?: boolean;
  /** How long to wait for every node to be Ready. */
  readyTimeoutMs?: number;
}

export const KUBE_LAB_DEFAULTS = { nodes: 2, cni: 'twill' as LabCni, install: 'auto' as const, pool: '10.244.0.0/16' };

type Print = (line: string) => void;

export const controlPlaneDir = (lab: string): string => join(labDir(lab), 'control-plane');
export const kubeNodeDir = (lab: string, node: string): string => join(labDir(lab), 'nodes', node);

export function nodeHost(lab: string, node: string): NodeHost & { name: string } {
  return { name: node, dir: kubeNodeDir(lab, node), netns: nodeNetns(lab, node), mntns: join(labDir(lab), 'mnt', node), cgroupRoot: `/twl-${lab}-${node}` };
}

export function kubectlTarget(s: LabState): KubectlTarget {
  if (!s.kubernetes) throw new TwillError('CONFIG_INVALID', `lab ${s.name} is not a Kubernetes lab (bring one up with \`twill lab up --kubernetes\`)`);
  if (!s.kubernetes.kubeconfig) throw new TwillError('TRY_AGAIN', `lab ${s.name}'s control plane is not up yet (or did not come up: see ${controlPlaneDir(s.name)})`);
  return { netns: s.underlayNetns, kubeconfig: s.kubernetes.kubeconfig };
}

/** The pod range the lab gives node-i (bridge and standalone modes). */
export function labPodCidr(pool: string, index: number): string {
  const [net, len] = pool.split('/');
  if (Number(len) > 16) throw new TwillError('CONFIG_INVALID', `--pool ${pool}: a Kubernetes lab needs a /16 or larger (one /24 per node)`);
  const o = net!.split('.').map(Number);
  return `${o[0]}.${o[1]}.${index}.0/24`;
}

const secs = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

export async function upKubeLab(o: KubeLabOptions, print: Print): Promise<LabState> {
  validateLabName(o.name);
  const t0 = Date.now();
  for (const b of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl', 'containerd', 'ctr', 'containerd-shim-runc-v2', 'runc'] as const) external(b);
  const images = await labImages(o.cni);
  const existing = await loadLab(o.name);
  if (existing) throw new TwillError('EXISTS', `lab ${o.name} exists (${existing.kubernetes ? 'Kubernetes' : 'etcd'}); remove it first: twill lab down --name ${o.name}`);
  const install = o.cni !== 'twill' ? undefined : o.install === 'auto' ? (deployManifest() ? 'deploy' : 'standalone') : o.install === 'none' ? undefined : o.install;
  const kubeProxy = o.kubeProxy ?? true;
  if (!kubeProxy && install !== 'deploy') {
    throw new TwillError('CONFIG_INVALID', 'a lab without kube-proxy needs Twill to serve Services: use --cni twill with --install deploy (or auto, with deploy/twill.yaml present)');
  }
  const names = Array.from({ length: o.nodes }, (_, i) => `node-${i + 1}`);
  const state: LabState = {
    name: o.name, createdAt: new Date().toISOString(), pool: o.pool, backend: 'vxlan', directRouting: false,
    etcd: { clientUrl: '', socket: '' }, underlayNetns: underlayNetns(o.name),
    nodes: names.map((n, i) => ({ name: n, netns: nodeNetns(o.name, n), underlayIP: nodeUnderlayIp(i + 1) })),
    leaseTtlSeconds: 0, blockGraceSeconds: 0,
    kubernetes: { cni: o.cni, ...(install ? { install } : {}), url: '', kubeconfig: '', podCidrs: Object.fromEntries(names.map((n, i) => [n, labPodCidr(o.pool, i + 1)])), ...(kubeProxy ? {} : { kubeProxy: false }) },
  };
  await mkdir(labDir(o.name), { recursive: true });
  await saveLab(state);
  try {
    await createUnderlay(state.underlayNetns);
    print(`control plane in ${state.underlayNetns} (${UNDERLAY_GATEWAY})`);
    const cp = await startControlPlane({
      dir: controlPlaneDir(o.name), netns: state.underlayNetns, bindAddress: UNDERLAY_GATEWAY, withControllers: true,
      allocateNodeCidrs: { clusterCidr: o.pool, nodeMaskSize: 24 }, print,
    });
    state.kubernetes!.url = cp.url;
    state.kubernetes!.kubeconfig = cp.kubeconfig;
    await saveLab(state);
    print(`  ready after ${secs(t0)}`);
    const aux = await startProc({ name: 'control-plane-host', dir: controlPlaneDir(o.name), netns: state.underlayNetns, argv: [process.execPath, twillBin(), 'lab', 'control-plane-host', '--kubeconfig', cp.kubeconfig, '--listen', UNDERLAY_GATEWAY] });
    print(`  cluster DNS              ${UNDERLAY_GATEWAY}:53, routes to pod blocks (pid ${aux}; control-plane-host.ts)`);
    const caCert = await readFile(cp.caFile, 'utf8');
    // One identity for every kube-proxy (RBAC binds system:node-proxier to the user system:kube-proxy).
    const pkc = await cp.embeddedKubeconfig('kube-proxy', 'system:kube-proxy', []);
    // One after the other: they share the folder the mount namespaces are pinned in.
    for (const n of state.nodes) {
      const h = nodeHost(o.name, n.name);
      await createNodeNetns(state.underlayNetns, n.name, n.netns, n.underlayIP);
      await prepareNodeHost(h);
      await installBasePlugins(h, o.cni);
    }
    // pause first (every sandbox needs it) so kubelets register at once; the larger images are
    // imported meanwhile and are all in before any CNI — and so any pod — is installed.
    const [pause, ...rest] = images;
    const imports: Promise<void>[] = [];
    await Promise.all(state.nodes.map(async (n) => {
      const h = nodeHost(o.name, n.name);
      const cd = await startContainerd({ ...h, ip: n.underlayIP, kubeconfigText: '', caCert });
      await importImages(h, [pause!]);
      print(`  ${n.name}  ${n.underlayIP}  containerd pid ${cd}`);
      const kc = await cp.embeddedKubeconfig(`kubelet-${n.name}`, `system:node:${n.name}`, ['system:nodes']);
      const kl = await startKubelet({ ...h, ip: n.underlayIP, kubeconfigText: kc, caCert, clusterDns: UNDERLAY_GATEWAY });
      const kp = kubeProxy ? await startKubeProxy({ ...h, ip: n.underlayIP, kubeconfigText: '', caCert, proxyKubeconfigText: pkc, clusterCidr: o.pool }) : undefined;
      print(`  ${n.name}  kubelet pid ${kl}, ${kp ? `kube-proxy pid ${kp}` : 'no kube-proxy (Twill serves Services)'}`);
      const imported = importImages(h, rest).then(() => print(`  ${n.name}  imported ${images.map((i) => i.name).join(', ')}`));
      imported.catch(() => undefined); // why: awaited below; a failure must not be an unhandled rejection meanwhile
      imports.push(imported);
    }));
    const target = kubectlTarget(state);
    await waitFor('every node registered', async () => (await kubectlJson<{ items: unknown[] }>(target, ['get', 'nodes'])).items.length === o.nodes, 120_000, 500);
    print(`nodes registered after ${secs(t0)} (NotReady until a CNI is installed)`);
    await Promise.all(imports);
    if (o.cni === 'twill' && !install) {
      print('no CNI installed (--install none): nodes stay NotReady until one is (installLabCni)');
      return state;
    }
    await installLabCni(state, print);
    await waitNodesReady(target, o.nodes, o.readyTimeoutMs ?? 120_000);
    print(`every node Ready after ${secs(t0)}`);
    return state;
  } catch (e) {
    print(`lab ${o.name} did not come up; its parts stay for inspection under ${labDir(o.name)} (remove with \`twill lab down --name ${o.name}\`)`);
    throw e;
  }
}

/** Installs the lab's CNI (see KubeLabOptions); `install` overrides the one recorded in the lab. */
export async function installLabCni(state: LabState, print: Print, install?: 'deploy' | 'standalone'): Promise<void> {
  const k = state.kubernetes!;
  if (install && k.cni === 'twill') {
    k.install = install;
    await saveLab(state);
  }
  const routed = state.nodes.map((n) => ({ netns: n.netns, ip: n.underlayIP, podCidr: k.podCidrs[n.name]! }));
  if (k.cni === 'bridge') {
    for (const n of state.nodes) await writeConflist(nodeHost(state.name, n.name), '10-bridge.conflist', bridgeConflist(k.podCidrs[n.name]!));
    await routePodCidrs(routed);
    print('CNI: reference bridge + host-local, one /24 per node, routed by the lab');
  } else if (k.install === 'standalone') {
    await Promise.all(state.nodes.map((n) => startStandaloneAgent(nodeHost(state.name, n.name), k.podCidrs[n.name]!)));
    await routePodCidrs(routed);
    print('CNI: Twill, a standalone agent per node (deploy/twill.yaml not found), pod ranges routed by the lab');
  } else if (k.install === 'deploy') {
    await installTwill(kubectlTarget(state), print, k.kubeProxy === false ? await kubeProxyReplacementManifest(state) : undefined);
  }
}

/**
 * deploy/twill.yaml with kubeProxyReplacement on and the agent pointed at the apiserver directly,
 * as `helm template --set kubeProxyReplacement=true --set apiServer=URL` renders it.
 */
async function kubeProxyReplacementManifest(state: LabState): Promise<string> {
  const file = join(labDir(state.name), 'twill-kube-proxy-replacement.yaml');
  await writeFile(file, renderInstall({ ...DEFAULT_VALUES, kubeProxyReplacement: true, apiServer: state.kubernetes!.url }));
  return file;
}

/** The cluster's latest `n` Warning events, one line each (object: reason: message). */
export async function recentWarnings(t: KubectlTarget, n: number): Promise<string[]> {
  const l = await kubectlJson<{ items: { reason: string; message: string; involvedObject: { namespace?: string; name: string } }[] }>(t, ['get', 'events', '-A', '--field-selector', 'type=Warning']);
  return l.items.slice(-n).map((w) => `${w.involvedObject.namespace ?? ''}/${w.involvedObject.name}: ${w.reason}: ${w.message.slice(0, 200)}`);
}

type NodeList = { items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } }[] };

/**
 * Waits until `count` nodes report Ready. On timeout the error names every node that is not, with
 * its Ready reason, and the cluster's latest Warning events (a DaemonSet pod that cannot mount a
 * volume or pull its image says so only there).
 */
export async function waitNodesReady(t: KubectlTarget, count: number, timeoutMs: number): Promise<void> {
  let last: NodeList = { items: [] };
  try {
    await waitFor(`${count} nodes Ready`, async () => {
      last = await kubectlJson<NodeList>(t, ['get', 'nodes']);
      return last.items.length === count && last.items.every((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }, timeoutMs, 250);
  } catch (e) {
    if (!(e instanceof TwillError) || e.code !== 'TIMEOUT') throw e;
    const notReady = last.items.map((n) => ({ n, r: n.status?.conditions?.find((c) => c.type === 'Ready') })).filter(({ r }) => r?.status !== 'True')
      .map(({ n, r }) => `${n.metadata.name}: ${r?.reason ?? 'no Ready condition'} ${(r?.message ?? '').slice(0, 160)}`);
    const warnings = await recentWarnings(t, 5).catch((err: Error) => [`(events unreadable: ${err.message.slice(0, 120)})`]);
    throw new TwillError('TIMEOUT', `${last.items.length} of ${count} nodes registered, not all Ready after ${timeoutMs} ms\n`
      + `  not Ready: ${notReady.join('\n             ') || '(none registered)'}\n  latest warnings: ${warnings.join('\n                   ') || '(none)'}\n`
      + '  See the CNI pods with `twill lab kubectl -- get pods -A -o wide` and `twill lab logs`.');
  }
}

/** Removes the Kubernetes parts of a lab (nodes' machines, control plane). Harmless on an etcd lab. */
export async function downKubeParts(lab: string): Promise<void> {
  // why: read-only: no nodes folder means no nodes to stop
  const nodes = await readdir(join(labDir(lab), 'nodes')).catch(() => [] as string[]);
  // Everything goes: no process needs a graceful stop (teardown SIGKILLs what is left anyway).
  for (const n of nodes) await stopNodeRuntime(kubeNodeDir(lab, n), 200);
  for (const n of nodes) await teardownNodeHost(nodeHost(lab, n));
  // Any node the lab knew of but whose folder is gone (a crash between steps) still has cgroups.
  // why: read-only: no mnt folder means no node hosts
  for (const n of await readdir(join(labDir(lab), 'mnt')).catch(() => [] as string[])) if (!nodes.includes(n)) await teardownNodeHost(nodeHost(lab, n));
  const mnt = join(labDir(lab), 'mnt');
  // why: teardown of a lab: not mounted (the usual case after a clean stop)
  if (existsSync(mnt)) await import('../../dataplane/kernel/exec.js').then(({ run }) => run('umount', [mnt]).catch(() => undefined));
  await stopControlPlane(controlPlaneDir(lab), 200);
}

export type { LabImage };
export { kubectl };
