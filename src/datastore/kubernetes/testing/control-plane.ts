// A private kube-apiserver for the datastore's tests and benchmarks: the lab's control plane
// (src/lab/kubernetes/control-plane.ts: PKI, etcd, kube-apiserver, pid files so a crashed run can
// be cleaned up) without controllers, with Twill's CRDs installed and its admin identity as a
// ClusterAccess. One launcher serves the lab and the tests.
import { readFile } from 'node:fs/promises';
import { TwillError, isTwillError } from '../../../util/errors.js';
import { join } from 'node:path';
import { startControlPlane as startLabControlPlane } from '../../../lab/kubernetes/control-plane.js';
import { externalDir, type ExternalBinary } from '../../../lab/kubernetes/externals.js';
import type { ClusterAccess } from '../access.js';
import { KubeClient } from '../client.js';
import { twillCrds } from '../crds.js';

export interface ControlPlaneOptions {
  dir: string;
  /** Admission plugins to turn off (ServiceAccount always is: no controller creates accounts). */
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
  /** etcd's client URL (loopback). */
  readonly etcdUrl: string;
  readonly logFile: string;
  /** An admin client (system:masters). */
  admin(): KubeClient;
  stop(): Promise<void>;
}

/** Where a pinned binary is (or would be, once scripts/externals/build.sh built it): tests skip without it. */
export function kubeBinary(name: ExternalBinary): string {
  return join(externalDir(name), name);
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const lab = await startLabControlPlane({
    dir: o.dir,
    ...(o.disableAdmission ? { disableAdmission: o.disableAdmission } : {}),
    ...(o.watchCache !== undefined ? { watchCache: o.watchCache } : {}),
    ...(o.extraArgs ? { extraArgs: o.extraArgs } : {}),
    ...(o.startTimeoutMs !== undefined ? { timeoutMs: o.startTimeoutMs } : {}),
  });
  const stop = (): Promise<void> => lab.stop();
  try {
    const access: ClusterAccess = { server: lab.url, ca: await readFile(lab.caFile), cert: await readFile(lab.admin.cert), key: await readFile(lab.admin.key), source: 'test control plane' };
    const cp: ControlPlane = { server: lab.url, kubeconfig: lab.kubeconfig, access, etcdUrl: lab.etcdUrl, logFile: lab.apiserverLog, admin: () => new KubeClient(access), stop };
    const admin = cp.admin();
    try {
      await installCrds(admin);
    } finally {
      admin.close();
    }
    return cp;
  } catch (e) {
    await stop();
    throw e;
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
