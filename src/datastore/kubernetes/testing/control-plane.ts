// A private kube-apiserver for tests and benchmarks: certificates made with openssl, Debian's
// etcd, the pinned kube-apiserver binary, an admin kubeconfig, Twill's CRDs installed. Loopback
// only, everything under one directory. (The lab's full control plane lives in src/lab/kubernetes/;
// this is the smallest thing the datastore's own tests need.)
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { TwillError, describeError, isTwillError } from '../../../util/errors.js';
import { freePort, startEtcd, type EtcdServer } from '../../etcd/server.js';
import type { ClusterAccess } from '../access.js';
import { KubeClient } from '../client.js';
import { twillCrds } from '../crds.js';

const run = promisify(execFile);
export const KUBE_BIN_DIR = process.env['TWILL_KUBE_BIN'] ?? '/var/cache/twill/externals/kubernetes-v1.37.2';
const SETPRIV = '/usr/bin/setpriv';

export interface ControlPlaneOptions {
  dir: string;
  /** Admission plugins to turn off (tests without controllers: ServiceAccount, NamespaceLifecycle). */
  disableAdmission?: string[];
  /** false: watches read etcd directly, so compacting etcd expires old revisions (410). */
  watchCache?: boolean;
  extraArgs?: string[];
  startTimeoutMs?: number;
}

export interface ControlPlane {
  readonly server: string;
  readonly kubeconfig: string;
  readonly access: ClusterAccess;
  readonly etcd: EtcdServer;
  readonly logFile: string;
  readonly pid: number | undefined;
  /** An admin client (system:masters). */
  admin(): KubeClient;
  stop(): Promise<void>;
}

export function kubeBinary(name: string): string {
  return join(KUBE_BIN_DIR, name);
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

/** CA, apiserver serving cert (127.0.0.1), admin client cert, service-account key pair. */
async function makeCerts(dir: string): Promise<void> {
  await openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=twill-test-ca']);
  const sign = async (name: string, subj: string, ext: string): Promise<void> => {
    await openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj]);
    await writeFile(join(dir, `${name}.ext`), ext);
    await openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  };
  await sign('apiserver', '/CN=kube-apiserver', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await sign('admin', '/O=system:masters/CN=twill-admin', 'extendedKeyUsage=clientAuth\n');
  await openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
  await openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const bin = kubeBinary('kube-apiserver');
  if (!existsSync(bin)) throw new TwillError('CONFIG_INVALID', `${bin} is missing: build it with scripts/externals/build.sh (or set TWILL_KUBE_BIN)`);
  const dir = o.dir;
  await makeCerts(dir);
  const etcd = await startEtcd({ dataDir: join(dir, 'etcd'), clientUrls: ['http'] });
  const port = await freePort();
  const server = `https://127.0.0.1:${port}`;
  const f = (n: string): string => join(dir, n);
  const args = [
    `--etcd-servers=${etcd.endpoints[0]}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    '--advertise-address=127.0.0.1',
    '--endpoint-reconciler-type=none',
    `--tls-cert-file=${f('apiserver.crt')}`,
    `--tls-private-key-file=${f('apiserver.key')}`,
    `--client-ca-file=${f('ca.crt')}`,
    `--service-account-key-file=${f('sa.pub')}`,
    `--service-account-signing-key-file=${f('sa.key')}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    '--service-cluster-ip-range=10.96.0.0/16',
    '--authorization-mode=RBAC',
    '--kubelet-preferred-address-types=InternalIP',
    `--cert-dir=${f('certs')}`,
    '--profiling=false',
    `--watch-cache=${o.watchCache ?? true}`,
    ...(o.disableAdmission?.length ? [`--disable-admission-plugins=${o.disableAdmission.join(',')}`] : []),
    ...(o.extraArgs ?? []),
  ];
  const logFile = f('kube-apiserver.log');
  const log = await open(logFile, 'a');
  let argv = [bin, ...args];
  if (existsSync(SETPRIV)) argv = [SETPRIV, '--pdeathsig', 'KILL', '--', ...argv];
  let child: ChildProcess | undefined;
  try {
    child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log.fd, log.fd] });
  } finally {
    await log.close();
  }
  const exited = new Promise<void>((r) => child!.once('exit', () => r()));
  let alive = true;
  void exited.then(() => (alive = false));
  const access: ClusterAccess = { server, ca: await readFile(f('ca.crt')), cert: await readFile(f('admin.crt')), key: await readFile(f('admin.key')), source: 'test control plane' };
  const kubeconfig = f('admin.kubeconfig');
  await writeFile(
    kubeconfig,
    toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'twill-test', cluster: { server, 'certificate-authority': f('ca.crt') } }],
      users: [{ name: 'admin', user: { 'client-certificate': f('admin.crt'), 'client-key': f('admin.key') } }],
      contexts: [{ name: 'twill-test', context: { cluster: 'twill-test', user: 'admin' } }],
      'current-context': 'twill-test',
    }),
  );
  const stop = async (): Promise<void> => {
    if (child?.pid && alive) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // why: gone
      }
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      if (!done) process.kill(-child.pid, 'SIGKILL');
      await exited;
    }
    await etcd.stop();
  };
  const cp: ControlPlane = { server, kubeconfig, access, etcd, logFile, pid: child.pid, admin: () => new KubeClient(access), stop };
  try {
    await waitReady(cp, () => alive, o.startTimeoutMs ?? 90_000);
    await installCrds(cp.admin());
  } catch (e) {
    await stop();
    throw e;
  }
  return cp;
}

async function waitReady(cp: ControlPlane, alive: () => boolean, timeoutMs: number): Promise<void> {
  const c = cp.admin();
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  try {
    for (;;) {
      if (!alive()) throw new TwillError('DATASTORE', `kube-apiserver exited during start-up; see ${cp.logFile}`, { details: (await readFile(cp.logFile, 'utf8')).split('\n').slice(-20).join('\n') });
      try {
        const code = await c.probe('/readyz', { what: 'readyz', timeoutMs: 2000 });
        if (code === 200) return;
        throw new Error(`/readyz answered ${code}`);
      } catch (e) {
        last = e;
        if (Date.now() > deadline) throw new TwillError('TIMEOUT', `kube-apiserver not ready within ${timeoutMs} ms (${describeError(last)}); see ${cp.logFile}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    c.close();
  }
}

/** Creates Twill's CRDs and waits until the apiserver serves them. */
export async function installCrds(c: KubeClient, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const crd of twillCrds()) {
    // A fresh apiserver on a busy machine may answer 500 ("etcdserver: request timed out") for a
    // while; a retried create that had gone through answers AlreadyExists.
    for (;;) {
      try {
        await c.request('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { method: 'POST', body: crd, what: `creating CRD ${crd.metadata.name}` });
        break;
      } catch (e) {
        if (isTwillError(e, 'EXISTS')) break;
        if (Date.now() > deadline || isTwillError(e, 'VALIDATION')) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  for (const crd of twillCrds()) {
    for (;;) {
      const o = await c.request<{ status?: { conditions?: { type: string; status: string }[] } }>(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`, { what: 'reading CRD' });
      if (o.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True')) break;
      if (Date.now() > deadline) throw new TwillError('TIMEOUT', `CRD ${crd.metadata.name} not established within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
