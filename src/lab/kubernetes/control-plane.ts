// A real Kubernetes control plane — Debian's etcd and the pinned kube-apiserver (optionally
// kube-controller-manager and kube-scheduler) — for the lab and for tests. Everything lives in
// `dir` (pki/, etcd/, *.log, *.pid, kubeconfigs), so stopping it, even after a crash, means
// killing the pids found there and removing the folder.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../datastore/etcd/index.js';
import { run } from '../../dataplane/kernel/exec.js';
import { TwillError } from '../../util/errors.js';
import { isAlive, readPid, stopPidFile, waitFor } from '../processes.js';
import { external } from './externals.js';
import { embeddedKubeconfigText, writeKubeconfig } from './kubeconfig.js';
import { ensurePki, issueCert, type CertFiles, type Pki } from './pki.js';
import { inNetns, logFileOf, pidFileOf, procFailed, startProc, type ProcSpec } from './spawn.js';

export interface ControlPlaneOptions {
  /** Folder for everything the control plane writes. */
  dir: string;
  /** Named network namespace to run in; default: the caller's. */
  netns?: string;
  /** Address kube-apiserver serves on (and advertises); default 127.0.0.1. */
  bindAddress?: string;
  /** kube-apiserver's port; default 6443 inside a namespace, a free port otherwise. */
  port?: number;
  /** Also run kube-controller-manager and kube-scheduler (a cluster that runs pods needs them). */
  withControllers?: boolean;
  serviceCidr?: string;
  /** With withControllers: kube-controller-manager gives each node a spec.podCIDR from this range. */
  allocateNodeCidrs?: { clusterCidr: string; nodeMaskSize: number };
  /** Progress lines; default: silent. */
  print?: (line: string) => void;
  /** How long to wait for /readyz; default 90 s. */
  timeoutMs?: number;
  /** Admission plugins to turn off (without controllers, ServiceAccount is always off). */
  disableAdmission?: string[];
  /** false: watches read etcd directly, so compacting etcd expires old revisions (410). */
  watchCache?: boolean;
  /** More kube-apiserver flags (tests). */
  extraArgs?: string[];
}

export interface ControlPlane {
  /** https://ADDRESS:PORT */
  url: string;
  /** etcd's client URL (in the control plane's namespace). */
  etcdUrl: string;
  /** kube-apiserver's log. */
  apiserverLog: string;
  /** Admin kubeconfig (group system:masters). */
  kubeconfig: string;
  caFile: string;
  admin: CertFiles;
  pki: Pki;
  dir: string;
  netns?: string;
  /** Issues a client certificate + kubeconfig for another identity (a kubelet, a test user). */
  clientKubeconfig(name: string, cn: string, groups: string[]): Promise<string>;
  /** The same, as kubeconfig text with the certificates embedded (for a lab node's own /etc/kubernetes). */
  embeddedKubeconfig(name: string, cn: string, groups: string[]): Promise<string>;
  stop(): Promise<void>;
}

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16'; // docs/architecture.md's address plan
const PROCS = ['control-plane-host', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'] as const;

/** The first address of the service range: the `kubernetes` Service's ClusterIP. */
export function firstServiceIp(cidr: string): string {
  const [net] = cidr.split('/');
  const o = net!.split('.').map(Number);
  o[3] = o[3]! + 1;
  return o.join('.');
}

const isLoopback = (ip: string): boolean => ip.startsWith('127.');

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const print = o.print ?? (() => undefined);
  const bind = o.bindAddress ?? '127.0.0.1';
  const serviceCidr = o.serviceCidr ?? DEFAULT_SERVICE_CIDR;
  const apiserverBin = external('kube-apiserver');
  const cmBin = o.withControllers ? external('kube-controller-manager') : '';
  const schedBin = o.withControllers ? external('kube-scheduler') : '';
  await mkdir(o.dir, { recursive: true });
  await stopControlPlane(o.dir); // leftovers of a crashed run

  const pki = await ensurePki(join(o.dir, 'pki'));
  const serving = await issueCert(pki, {
    name: 'apiserver', cn: 'kube-apiserver', usage: 'server',
    ips: [...new Set([bind, '127.0.0.1', firstServiceIp(serviceCidr)])],
    dns: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost'],
  });
  const admin = await issueCert(pki, { name: 'admin', cn: 'twill-lab-admin', groups: ['system:masters'], usage: 'client' });
  const kubeletClient = await issueCert(pki, { name: 'apiserver-kubelet-client', cn: 'kube-apiserver-kubelet-client', groups: ['system:masters'], usage: 'client' });

  const port = o.port ?? (o.netns ? 6443 : await freePort());
  const etcdPort = o.netns ? 2379 : await freePort();
  const url = `https://${bind}:${port}`;
  const kubeconfig = await writeKubeconfig(join(o.dir, 'admin.kubeconfig'), { server: url, caFile: pki.ca.cert, client: admin, user: 'admin' });
  const clientKubeconfig = async (name: string, cn: string, groups: string[]): Promise<string> => {
    const c = await issueCert(pki, { name, cn, groups, usage: 'client' });
    return writeKubeconfig(join(o.dir, `${name}.kubeconfig`), { server: url, caFile: pki.ca.cert, client: c, user: cn });
  };
  const embeddedKubeconfig = async (name: string, cn: string, groups: string[]): Promise<string> => {
    const c = await issueCert(pki, { name, cn, groups, usage: 'client' });
    return embeddedKubeconfigText({ server: url, caFile: pki.ca.cert, client: c, user: cn });
  };
  const proc = (name: string, argv: string[]): ProcSpec => ({ name, dir: o.dir, netns: o.netns, argv });

  const started: { spec: ProcSpec; pid: number }[] = [];
  const start = async (spec: ProcSpec): Promise<number> => {
    const pid = await startProc(spec);
    started.push({ spec, pid });
    return pid;
  };
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  try {
    const etcdDir = join(o.dir, 'etcd');
    await mkdir(etcdDir, { recursive: true });
    // Peers on a unix socket (relative to cwd, as the etcd lab does): no second TCP port to pick.
    const etcd = proc('etcd', ['etcd', '--name', 'cp', '--data-dir', join(etcdDir, 'data'),
      '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
      '--listen-peer-urls', 'unix://etcd-peer.sock:0', '--initial-advertise-peer-urls', 'unix://etcd-peer.sock:0',
      '--initial-cluster', 'cp=unix://etcd-peer.sock:0', '--log-level', 'warn', '--quota-backend-bytes', String(4 * 1024 ** 3)]);
    print(`  etcd                     ${etcdUrl}${o.netns ? ` in ${o.netns}` : ''}`);
    const etcdPid = await start(etcd);

    const disabled = [...new Set([...(o.withControllers ? [] : ['ServiceAccount']), ...(o.disableAdmission ?? [])])];
    const apiserver = proc('kube-apiserver', [apiserverBin,
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${bind}`, `--secure-port=${port}`, `--advertise-address=${bind}`,
      // The default reconciler refuses a loopback advertise address; a lone apiserver needs none.
      ...(isLoopback(bind) ? ['--endpoint-reconciler-type=none'] : []),
      `--tls-cert-file=${serving.cert}`, `--tls-private-key-file=${serving.key}`, `--client-ca-file=${pki.ca.cert}`,
      `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-cluster-ip-range=${serviceCidr}`,
      '--authorization-mode=Node,RBAC', '--allow-privileged=true',
      `--kubelet-client-certificate=${kubeletClient.cert}`, `--kubelet-client-key=${kubeletClient.key}`,
      // There is no DNS in the lab (and nothing may leave it): reach kubelets by their InternalIP.
      '--kubelet-preferred-address-types=InternalIP',
      // Without kube-controller-manager nobody creates the `default` ServiceAccount that this
      // admission plugin waits for; tests that only store objects do not need it.
      ...(disabled.length ? [`--disable-admission-plugins=${disabled.join(',')}`] : []),
      ...(o.watchCache === false ? ['--watch-cache=false'] : []),
      '--profiling=false', '--v=1', ...(o.extraArgs ?? [])]);
    print(`  kube-apiserver           ${url}`);
    const apiPid = await start(apiserver);
    await waitReady(o, apiserver, apiPid, url, pki.ca.cert, admin, etcd, etcdPid);

    if (o.withControllers) {
      const cmKc = await clientKubeconfig('controller-manager', 'system:kube-controller-manager', []);
      const alloc = o.allocateNodeCidrs;
      await start(proc('kube-controller-manager', [cmBin, `--kubeconfig=${cmKc}`,
        '--leader-elect=false', '--secure-port=0', '--use-service-account-credentials=true',
        `--service-account-private-key-file=${pki.saKey}`, `--root-ca-file=${pki.ca.cert}`,
        `--cluster-signing-cert-file=${pki.ca.cert}`, `--cluster-signing-key-file=${pki.ca.key}`,
        `--service-cluster-ip-range=${serviceCidr}`,
        ...(alloc ? ['--allocate-node-cidrs=true', `--cluster-cidr=${alloc.clusterCidr}`, `--node-cidr-mask-size=${alloc.nodeMaskSize}`] : []),
        '--profiling=false', '--v=1']));
      print(`  kube-controller-manager  ${alloc ? `allocating node CIDRs from ${alloc.clusterCidr}` : 'running'}`);
      const schedKc = await clientKubeconfig('scheduler', 'system:kube-scheduler', []);
      await start(proc('kube-scheduler', [schedBin, `--kubeconfig=${schedKc}`, '--leader-elect=false', '--secure-port=0', '--profiling=false', '--v=1']));
      print('  kube-scheduler           running');
    }
  } catch (e) {
    await stopControlPlane(o.dir);
    throw e;
  }
  return {
    url, etcdUrl, apiserverLog: logFileOf({ dir: o.dir, name: 'kube-apiserver' }), kubeconfig, caFile: pki.ca.cert, admin, pki, dir: o.dir, ...(o.netns ? { netns: o.netns } : {}),
    clientKubeconfig,
    embeddedKubeconfig,
    stop: () => stopControlPlane(o.dir),
  };
}

async function waitReady(o: ControlPlaneOptions, spec: ProcSpec, pid: number, url: string, ca: string, admin: CertFiles, etcd: ProcSpec, etcdPid: number): Promise<void> {
  const curl = inNetns(o.netns, ['curl', '-sS', '--noproxy', '*', '--max-time', '3', '--cacert', ca, '--cert', admin.cert, '--key', admin.key, `${url}/readyz`]);
  try {
    await waitFor('kube-apiserver /readyz', async () => {
      if (!isAlive(etcdPid)) throw await procFailed(etcd, etcdPid, 'etcd died');
      if (!isAlive(pid)) throw await procFailed(spec, pid, 'it died');
      const r = await run(curl[0]!, curl.slice(1), { timeoutMs: 5000 });
      return r.stdout.trim() === 'ok';
    }, o.timeoutMs ?? 90_000, 250);
  } catch (e) {
    if (e instanceof TwillError && e.code === 'INTERNAL') throw e;
    throw await procFailed(spec, pid, `${url}/readyz did not answer "ok"`, e);
  }
}

/**
 * Stops every control-plane process recorded in `dir` (newest first), SIGKILL after `graceMs`
 * each (kube-apiserver's graceful termination can take many seconds). Harmless if none run.
 */
export async function stopControlPlane(dir: string, graceMs = 2000): Promise<void> {
  for (const name of PROCS) {
    const file = pidFileOf({ dir, name });
    const pid = await readPid(file);
    if (pid !== undefined) await stopPidFile(file, graceMs);
  }
}
