// A lab node as a "machine": its network namespace (from the etcd lab), plus its own mount
// namespace where the paths a kubeadm node has — /etc/cni/net.d, /opt/cni/bin, /var/lib/kubelet,
// /run/containerd, /run/twill, … — are this node's folders. So a DaemonSet's hostPath volumes, the
// conflist Twill writes, containerd's pod namespaces and every mount containerd or the kubelet make
// belong to one node, and vanish with its mount namespace. Plus its own cgroup root in every
// cgroup v1 hierarchy, which the kubelet requires to exist beforehand.
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../dataplane/kernel/exec.js';
import { isAlive } from '../processes.js';

/** Standard node paths and the folder (under the node's `root/`) that backs each in its mount namespace. */
export const NODE_PATHS: readonly [string, string][] = [
  ['etc-cni-net.d', '/etc/cni/net.d'],
  ['opt-cni-bin', '/opt/cni/bin'],
  ['etc-kubernetes', '/etc/kubernetes'],
  ['etc-containerd', '/etc/containerd'],
  ['var-lib-kubelet', '/var/lib/kubelet'],
  ['var-lib-containerd', '/var/lib/containerd'],
  ['run-containerd', '/run/containerd'],
  ['var-log-pods', '/var/log/pods'],
  ['var-log-containers', '/var/log/containers'],
  ['run-netns', '/run/netns'],
  ['var-lib-cni', '/var/lib/cni'],
  ['var-lib-twill', '/var/lib/twill'],
  // Last: the lab's own folders live under /run/twill and must stay reachable until then.
  ['run-twill', '/run/twill'],
];

export const CGROUP_V1 = '/sys/fs/cgroup';

export interface NodeHost {
  /** The node's folder, e.g. /run/twill/labs/<lab>/nodes/<node>. */
  dir: string;
  netns: string;
  /** The persistent mount-namespace file. */
  mntns: string;
  /** The kubelet's cgroupRoot, e.g. /twl-<lab>-<node>. */
  cgroupRoot: string;
}

/** Where a node path's backing folder is on the host: hostPath(h, '/etc/cni/net.d'). */
export function hostPath(h: Pick<NodeHost, 'dir'>, nodePath: string): string {
  for (const [name, p] of NODE_PATHS) {
    if (nodePath === p || nodePath.startsWith(p + '/')) return join(h.dir, 'root', name, nodePath.slice(p.length));
  }
  throw new Error(`${nodePath} is not a per-node path`);
}

/** argv prefix running a command on the node: its network and mount namespaces. */
export const onNode = (h: Pick<NodeHost, 'netns' | 'mntns'>, argv: string[]): string[] => ['nsenter', `--net=/run/netns/${h.netns}`, `--mount=${h.mntns}`, '--', ...argv];

/** A folder bind-mounted on itself and made private, so namespace files can be mounted in it (as `ip netns` does). */
async function ensurePrivateMountDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  if (!info.split('\n').some((l) => l.split(' ')[4] === dir)) await run('mount', ['--bind', dir, dir]);
  await run('mount', ['--make-private', dir]);
}

const isNsMount = (file: string): boolean => {
  try {
    return statSync(file).dev !== statSync(join(file, '..')).dev;
  } catch {
    // why: read-only probe: no file, no mount
    return false;
  }
};

/** Creates the node's folders, mount namespace and cgroups. Idempotent. */
export async function prepareNodeHost(h: NodeHost): Promise<void> {
  for (const [name, p] of NODE_PATHS) {
    await mkdir(join(h.dir, 'root', name), { recursive: true });
    if (!existsSync(p)) await mkdir(p, { recursive: true });
  }
  await ensurePrivateMountDir(join(h.mntns, '..'));
  if (!isNsMount(h.mntns)) {
    await writeFile(h.mntns, '');
    const script = [
      ...NODE_PATHS.map(([name, p]) => `mount --bind '${join(h.dir, 'root', name)}' '${p}'`),
      // Shared inside the node (new peer groups, none with the host): the kubelet's volume mounts reach containers.
      'mount --make-rshared /',
    ].join(' && ');
    await run('unshare', [`--mount=${h.mntns}`, '--propagation', 'private', 'sh', '-c', script]);
  }
  for (const hier of await cgroupHierarchies()) {
    const d = join(CGROUP_V1, hier, h.cgroupRoot);
    if (existsSync(d)) continue;
    await mkdir(d);
    // A new cpuset cgroup starts with no CPUs and no memory nodes; the kubelet needs its parent's.
    if (hier.split(',').includes('cpuset')) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) await writeFile(join(d, f), await readFile(join(CGROUP_V1, hier, f), 'utf8'));
    }
  }
}

/**
 * The cgroup hierarchies mounted under /sys/fs/cgroup: the v1 ones, and with `withUnified` the v2
 * `unified` one too (runc mirrors containers there; the kubelet does not need the root to exist in it).
 */
export async function cgroupHierarchies(withUnified = false): Promise<string[]> {
  const out: string[] = [];
  // why: read-only: no cgroup v1 hierarchy mounted
  for (const e of await readdir(CGROUP_V1).catch(() => [] as string[])) {
    if (e === 'unified' && !withUnified) continue;
    const p = join(CGROUP_V1, e);
    if (existsSync(join(p, 'cgroup.procs')) && !(await readlink(p).then(() => true, () => false))) out.push(e);
  }
  return out;
}

/** Every pid in a cgroup subtree (any hierarchy). */
async function cgroupPids(dir: string): Promise<number[]> {
  const pids: number[] = [];
  // why: read-only: a cgroup that is gone holds no pids
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  for (const l of text.split('\n')) if (l.trim()) pids.push(Number(l));
  // why: read-only: a cgroup that is gone has no children
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) pids.push(...(await cgroupPids(join(dir, e.name))));
  return pids;
}

/** Pids whose mount namespace is the node's (its containerd, shims, kubelet, agent). */
async function mntnsPids(mntns: string): Promise<number[]> {
  if (!isNsMount(mntns)) return [];
  const ino = statSync(mntns).ino;
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (statSync(`/proc/${e}/ns/mnt`).ino === ino) out.push(Number(e));
    } catch {
      // why: gone
    }
  }
  return out;
}

function killAll(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // why: already gone
    }
  }
}

/**
 * Removes everything the node's machine holds: every process in its cgroups or its mount
 * namespace, the mount namespace (and with it every mount containerd and the kubelet made),
 * its cgroups. Harmless when parts are gone; works after a crash (it needs only the names).
 */
export async function teardownNodeHost(h: NodeHost): Promise<void> {
  const hiers = await cgroupHierarchies(true);
  for (let round = 0; round < 20; round++) {
    const pids = new Set<number>(await mntnsPids(h.mntns));
    for (const hier of hiers) for (const p of await cgroupPids(join(CGROUP_V1, hier, h.cgroupRoot))) pids.add(p);
    const alive = [...pids].filter(isAlive);
    if (alive.length === 0) break;
    killAll(alive);
    await new Promise((r) => setTimeout(r, 100));
  }
  // why: busy: a lazy unmount, whose failure is thrown
  if (isNsMount(h.mntns)) await run('umount', [h.mntns]).catch(() => run('umount', ['-l', h.mntns]));
  await rm(h.mntns, { force: true });
  for (const hier of hiers) await removeCgroupTree(join(CGROUP_V1, hier, h.cgroupRoot));
}

async function removeCgroupTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  // why: read-only: a cgroup that is gone has no children
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await removeCgroupTree(join(dir, e.name));
  for (let i = 0; i < 50; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Copies CNI plugin binaries (e.g. Debian's reference plugins) into the node's /opt/cni/bin. */
export async function installCniPlugins(h: NodeHost, fromDir: string, names: string[]): Promise<void> {
  for (const n of names) await copyFile(join(fromDir, n), join(hostPath(h, '/opt/cni/bin'), n));
}
