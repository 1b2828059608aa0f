// The datastore's public face: the Store contract, and openStore() from a connection string.
import { TwillError } from '../util/errors.js';
import { EtcdStore } from './etcd/store.js';
import { inClusterAccess, kubeconfigAccess } from './kubernetes/access.js';
import { KubernetesStore } from './kubernetes/store.js';
import { MemoryStore } from './memory/store.js';
import type { Store } from './store.js';

export type { Lease, ListResult, Store, Watch, WatchEvent, WatchOptions, WriteOptions } from './store.js';
export { RESOURCE_PLURAL } from './keys.js';
export { LeasedObjects, readModifyWrite, type LeasedObjectsOptions } from './patterns.js';
export { EtcdStore, startEtcd, DEFAULT_PREFIX, type EtcdServer, type EtcdServerOptions, type EtcdStoreOptions } from './etcd/index.js';
export { KubernetesStore, twillCrds, agentRbac, type ClusterAccess, type KubernetesStoreOptions } from './kubernetes/index.js';
export { MemoryBackend, MemoryStore, ManualClock, type Clock, type MemoryBackendOptions } from './memory/index.js';

export interface OpenOptions {
  /** etcd key prefix (default `/twill/`). */
  prefix?: string;
  /** etcd per-call deadline in ms (default 5000). */
  callTimeoutMs?: number;
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
 * - `etcd:http://127.0.0.1:2379` — etcd over TCP (comma-separate several hosts);
 * - `etcd:unix:///run/twill/etcd.sock:0` — etcd over a unix socket (how lab agents reach it);
 * - `kubernetes` — kube-apiserver through `opts.kubeconfig`, or the pod's service account.
 */
export async function openStore(spec: string, opts: OpenOptions = {}): Promise<Store> {
  if (spec === 'memory') return new MemoryStore();
  if (spec === 'kubernetes') {
    const access = opts.kubeconfig ? kubeconfigAccess(opts.kubeconfig, opts.context) : inClusterAccess();
    return new KubernetesStore({ access, ...(opts.leaseNamespace ? { leaseNamespace: opts.leaseNamespace } : {}) });
  }
  if (spec.startsWith('etcd:')) {
    const hosts = spec.slice('etcd:'.length).split(',').filter((h) => h !== '');
    const bad = hosts.find((h) => !/^(https?:\/\/[^/]+|unix:\/\/\/.+)$/.test(h));
    if (hosts.length === 0 || bad !== undefined) {
      throw new TwillError('CONFIG_INVALID', `datastore ${JSON.stringify(spec)}: etcd hosts must be http://HOST:PORT or unix:///path/to/socket (e.g. etcd:http://127.0.0.1:2379)`);
    }
    return new EtcdStore({ hosts, ...opts });
  }
  throw new TwillError('CONFIG_INVALID', `unknown datastore ${JSON.stringify(spec)}: use "kubernetes", "etcd:http://HOST:PORT", "etcd:unix:///path/to/socket" or "memory"`);
}
