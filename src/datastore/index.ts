// The datastore's public face: the Store contract, and openStore() from a connection string.
import { TwillError } from '../util/errors.js';
import type { EtcdSecurityOptions } from './etcd/security.js';
import { EtcdStore } from './etcd/store.js';
import { inClusterAccess, kubeconfigAccess } from './kubernetes/access.js';
import { KubernetesStore } from './kubernetes/store.js';
import { MemoryStore } from './memory/store.js';
import type { Store } from './store.js';

export type { Lease, ListResult, Store, Watch, WatchEvent, WatchOptions, WriteOptions } from './store.js';
export { RESOURCE_PLURAL } from './keys.js';
export { LeasedObjects, readModifyWrite, type LeasedObjectsOptions } from './patterns.js';
export { EtcdStore, startEtcd, DEFAULT_PREFIX, ETCD_PASSWORD_ENV, type EtcdServer, type EtcdServerOptions, type EtcdServerTls, type EtcdStoreOptions, type EtcdSecurityOptions } from './etcd/index.js';
export { KubernetesStore, twillCrds, agentRbac, type ClusterAccess, type KubernetesStoreOptions } from './kubernetes/index.js';
export { MemoryBackend, MemoryStore, ManualClock, type Clock, type MemoryBackendOptions } from './memory/index.js';

export interface OpenOptions {
  /** etcd key prefix (default `/twill/`). */
  prefix?: string;
  /** etcd per-call deadline in ms (default 5000). */
  callTimeoutMs?: number;
  /** etcd TLS files, user and password, and the plaintext override (see etcd/security.ts). */
  etcd?: EtcdSecurityOptions;
  /** kubernetes in a pod: kube-apiserver's https://HOST:PORT instead of the `kubernetes` Service's. */
  apiServer?: string;
  /** kubernetes: a kubeconfig file (default: the pod's service account). */
  kubeconfig?: string;
  /** kubernetes: the kubeconfig context (default: its current-context). */
  context?: string;
  /** kubernetes: the namespace of Twill's Leases (default twill-system). */
  leaseNamespace?: string;
}

/**
 * Opens a store from a spec:
 * - `memory` — a fresh in-process store (tests only; nothing is shared between calls);
 * - `etcd:https://10.0.0.5:2379` — etcd over TLS (comma-separate several hosts; `opts.etcd` gives
 *   the CA, client certificate and key, user and password file);
 * - `etcd:http://127.0.0.1:2379` — plaintext etcd, refused for a non-loopback host unless
 *   `opts.etcd.allowPlaintext`;
 * - `etcd:unix:///run/twill/etcd.sock:0` — etcd over a unix socket (how lab agents reach it);
 * - `kubernetes` — kube-apiserver through `opts.kubeconfig`, or the pod's service account.
 */
export async function openStore(spec: string, opts: OpenOptions = {}): Promise<Store> {
  if (spec === 'memory') return new MemoryStore();
  if (spec === 'kubernetes') {
    const access = opts.kubeconfig ? kubeconfigAccess(opts.kubeconfig, opts.context) : inClusterAccess(process.env, undefined, { server: opts.apiServer });
    return new KubernetesStore({ access, ...(opts.leaseNamespace ? { leaseNamespace: opts.leaseNamespace } : {}) });
  }
  if (spec.startsWith('etcd:')) {
    const hosts = spec.slice('etcd:'.length).split(',').filter((h) => h !== '');
    const bad = hosts.find((h) => !/^(https?:\/\/[^/]+|unix:\/\/\/.+)$/.test(h));
    if (hosts.length === 0 || bad !== undefined) {
      throw new TwillError('CONFIG_INVALID', `datastore ${JSON.stringify(spec)}: etcd hosts must be https://HOST:PORT, http://HOST:PORT or unix:///path/to/socket (e.g. etcd:https://10.0.0.5:2379)`);
    }
    const { etcd, kubeconfig: _k, context: _c, leaseNamespace: _l, apiServer: _a, ...rest } = opts;
    return new EtcdStore({ hosts, ...rest, ...(etcd && { security: etcd }) });
  }
  throw new TwillError('CONFIG_INVALID', `unknown datastore ${JSON.stringify(spec)}: use "kubernetes", "memory", "etcd:https://HOST:PORT", "etcd:http://HOST:PORT" or "etcd:unix:///path/to/socket"`);
}
