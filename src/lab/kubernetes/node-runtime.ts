// containerd and the kubelet of one lab node, run inside the node's namespaces (node-host.ts)
// with the configuration this machine needs: cgroup v1 with the cgroupfs driver and a cgroup root
// per node; no CAP_SYS_RESOURCE (restrict_oom_score_adj); no swap checks; the node's underlay
// address as its InternalIP; a sandbox image that is imported, never pulled.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../dataplane/kernel/exec.js';
import { TwillError } from '../../util/errors.js';
import { isAlive, readPid, stopPidFile, waitFor } from '../processes.js';
import { external, externalDir } from './externals.js';
import { hostPath, onNode, type NodeHost } from './node-host.js';
import { logFileOf, procFailed, startProc } from './spawn.js';

export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10.2';

export interface NodeRuntimeSpec extends NodeHost {
  name: string;
  ip: string;
  /** The node's kubeconfig (system:node:<name>) and the cluster CA, copied into /etc/kubernetes. */
  kubeconfigText: string;
  caCert: string;
  /** How often the kubelet reports node status (the lab reports quickly so Ready shows soon). */
  statusUpdateSeconds?: number;
  /** The cluster DNS server pods are given (the lab's, dns/server.ts). */
  clusterDns?: string;
}

export function containerdConfig(): string {
  const runc = external('runc');
  return `version = 3
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "${PAUSE_IMAGE}"

[plugins."io.containerd.cri.v1.runtime"]
  # No CAP_SYS_RESOURCE here: containerd may not raise a container's oom_score_adj above its own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "${runc}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/opt/cni/bin"]
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

export function kubeletConfig(s: Pick<NodeRuntimeSpec, 'ip' | 'cgroupRoot' | 'statusUpdateSeconds' | 'clusterDns'>): string {
  const cfg = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // cgroup v1 on this machine: allowed explicitly, with the cgroupfs driver and a root per node.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: s.cgroupRoot,
    containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
    address: s.ip,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: '/etc/kubernetes/pki/ca.crt' } },
    authorization: { mode: 'AlwaysAllow' },
    failSwapOn: false,
    clusterDomain: 'cluster.local',
    ...(s.clusterDns ? { clusterDNS: [s.clusterDns] } : {}),
    serializeImagePulls: false,
    // Several lab nodes share one disk and one memory: eviction thresholds of a real node would evict for the host's sake.
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    nodeStatusUpdateFrequency: `${s.statusUpdateSeconds ?? 2}s`,
    localStorageCapacityIsolation: false,
    protectKernelDefaults: false,
  };
  return JSON.stringify(cfg, null, 2) + '\n';
}

const containerdSock = (h: Pick<NodeHost, 'dir'>): string => hostPath(h, '/run/containerd/containerd.sock');

/** Starts containerd on the node (if not running) and waits until it answers. */
export async function startContainerd(s: NodeRuntimeSpec): Promise<number> {
  const pidSpec = { name: 'containerd', dir: s.dir };
  const prev = await readPid(join(s.dir, 'containerd.pid'));
  if (prev !== undefined && isAlive(prev)) return prev;
  await writeFile(hostPath(s, '/etc/containerd/config.toml'), containerdConfig());
  const pid = await startProc({
    ...pidSpec,
    argv: onNode(s, [external('containerd'), '--config', '/etc/containerd/config.toml', '--log-level', 'warn']),
    // The shim (containerd-shim-runc-v2) is found on PATH.
    env: { PATH: `${externalDir('containerd')}:${externalDir('runc')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` },
  });
  try {
    await waitFor(`containerd on ${s.name}`, async () => {
      if (!isAlive(pid)) throw new TwillError('INTERNAL', 'exited');
      await run(external('ctr'), ['--address', containerdSock(s), 'version'], { timeoutMs: 3000 });
      return true;
    }, 30_000, 100);
  } catch (e) {
    throw await procFailed(pidSpec, pid, `no answer on ${containerdSock(s)}`, e);
  }
  return pid;
}

/** Imports OCI image archives into the node's containerd (the k8s.io namespace the CRI uses). */
export async function importImages(s: Pick<NodeHost, 'dir'>, archives: { file: string; name: string }[]): Promise<void> {
  for (const a of archives) {
    await run(external('ctr'), ['--address', containerdSock(s), '-n', 'k8s.io', 'images', 'import', '--base-name', a.name.replace(/:[^:/]+$/, ''), a.file], { timeoutMs: 300_000 });
  }
}

/** Starts the kubelet on the node (if not running). */
export async function startKubelet(s: NodeRuntimeSpec): Promise<number> {
  const prev = await readPid(join(s.dir, 'kubelet.pid'));
  if (prev !== undefined && isAlive(prev)) return prev;
  await mkdir(hostPath(s, '/etc/kubernetes/pki'), { recursive: true });
  await writeFile(hostPath(s, '/etc/kubernetes/pki/ca.crt'), s.caCert);
  await writeFile(hostPath(s, '/etc/kubernetes/kubelet.conf'), s.kubeconfigText, { mode: 0o600 });
  await writeFile(hostPath(s, '/var/lib/kubelet/config.yaml'), kubeletConfig(s));
  return startProc({
    name: 'kubelet',
    dir: s.dir,
    argv: onNode(s, [external('kubelet'), '--config=/var/lib/kubelet/config.yaml', '--kubeconfig=/etc/kubernetes/kubelet.conf',
      `--hostname-override=${s.name}`, `--node-ip=${s.ip}`, '--v=1']),
  });
}

export function kubeProxyConfig(s: Pick<NodeRuntimeSpec, 'name'>, clusterCidr: string): string {
  return JSON.stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: '/etc/kubernetes/kube-proxy.conf' },
    mode: 'nftables',
    hostnameOverride: s.name,
    clusterCIDR: clusterCidr,
    // conntrack limits are host-wide sysctls a lab node may not set: leave them as they are.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    metricsBindAddress: '127.0.0.1:10249',
    healthzBindAddress: '127.0.0.1:10256',
  }, null, 2) + '\n';
}

/**
 * kube-proxy on the node, as kubeadm runs it: it makes Service addresses work — above all
 * 10.96.0.1, the `kubernetes` Service through which in-cluster clients (Twill's agent) reach the apiserver.
 */
export async function startKubeProxy(s: NodeRuntimeSpec & { proxyKubeconfigText: string; clusterCidr: string }): Promise<number> {
  const prev = await readPid(join(s.dir, 'kube-proxy.pid'));
  if (prev !== undefined && isAlive(prev)) return prev;
  await writeFile(hostPath(s, '/etc/kubernetes/kube-proxy.conf'), s.proxyKubeconfigText, { mode: 0o600 });
  await writeFile(hostPath(s, '/etc/kubernetes/kube-proxy.yaml'), kubeProxyConfig(s, s.clusterCidr));
  return startProc({ name: 'kube-proxy', dir: s.dir, argv: onNode(s, [external('kube-proxy'), '--config=/etc/kubernetes/kube-proxy.yaml', '--v=1']) });
}

export const kubeletLog = (s: Pick<NodeHost, 'dir'>): string => logFileOf({ dir: s.dir, name: 'kubelet' });

/** Stops the node's kube-proxy, kubelet and containerd (`graceMs` each before SIGKILL). */
export async function stopNodeRuntime(dir: string, graceMs = 3000): Promise<void> {
  await stopPidFile(join(dir, 'kube-proxy.pid'), graceMs);
  await stopPidFile(join(dir, 'kubelet.pid'), graceMs);
  await stopPidFile(join(dir, 'containerd.pid'), graceMs);
}
