// The datastore seam. Every implementation (memory, etcd, kubernetes) passes one shared
// conformance suite (conformance.ts). Callers never learn which one they hold.
//
// How the `kubernetes` store (kubernetes/) maps each method:
// - revision / resourceVersion: the apiserver's resourceVersion (etcd's revision underneath).
// - list:   GET /…/<plural>?limit=500&continue=… (pages of one snapshot), revision = the list's
//           metadata.resourceVersion. Objects are projected to the fields Twill reads.
// - get:    GET /…/<plural>/<name>; 404 → undefined (a 404 for a whole twill.dev resource means
//           the CRDs are missing: an error that says to apply deploy/twill.yaml).
// - create: POST; 409 AlreadyExists → EXISTS.
// - update: PUT carrying metadata.resourceVersion; 409 Conflict → CONFLICT, 404 → NOT_FOUND.
// - put:    GET, then POST or PUT with the stored resourceVersion (custom resources refuse an
//           unconditional update), again on a lost race.
// - delete: DELETE with preconditions.resourceVersion; 409 → CONFLICT, 404 → false.
// - watch:  GET ?watch=1&resourceVersion=R&allowWatchBookmarks=true (bookmarks advance R);
//           "410 Gone" / an expired resourceVersion → relist and deliver RESYNC.
// - leases: a coordination.k8s.io/v1 Lease (holderIdentity, leaseDurationSeconds, renewTime);
//           keep-alive patches renewTime every TTL/3; attaching = the label twill.dev/lease=<name>
//           (an ownerReference cannot work: cluster-scoped objects may not be owned by a namespaced
//           Lease, and no garbage collector may be running); revoke = DELETE the Lease, then
//           DELETE the collection of each Twill kind by that label; expiry = every store holding a
//           lease watches the lease namespace and reaps a Lease unchanged for its duration (by its
//           own clock). Objects of one lease are deleted one by one: several revisions, not one.
//           Pods, Nodes, Namespaces and NetworkPolicies cannot be attached to a lease.
// - ping:   GET /readyz with a short timeout.
import type { Kind, ResourceOf } from '../model/types.js';

export interface ListResult<K extends Kind> {
  items: ResourceOf<K>[];
  /** Store revision the list is consistent at; pass it to watch() to miss nothing. */
  revision: string;
}

export type WatchEvent<K extends Kind> =
  /** DELETED carries the last stored object; its resourceVersion is the deletion's revision. */
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: ResourceOf<K>; revision: string }
  /**
   * The watch could not resume from its revision (history compacted, or the implementation
   * cannot replay): here is the complete current state instead. Handlers replace their cache.
   * It may be the first event of a watch whose fromRevision is already compacted.
   */
  | { type: 'RESYNC'; items: ResourceOf<K>[]; revision: string };

export interface WatchOptions<K extends Kind> {
  /** Deliver changes after this revision (from list()). */
  fromRevision: string;
  /**
   * Called once per change, in revision order, never concurrently. Events of one revision (a
   * lease expiry deleting several objects in etcd) arrive back to back. Coalescing is the
   * caller's job.
   */
  onEvent: (ev: WatchEvent<K>) => void;
  /**
   * Connection state changes, for logs and status: first `{connected: true}` when the watch is
   * established, then `false`/`true` as it is lost and restored. The watch retries on its own.
   */
  onStatus?: (s: { connected: boolean; error?: unknown }) => void;
}

export interface Watch {
  stop(): void;
}

export interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  /**
   * Called once if the lease is lost: the store says it is gone (expired, revoked elsewhere), or
   * no keep-alive succeeded for ttlSeconds (others may already have seen it expire). Keep-alive
   * stops. Not called for this holder's own revoke()/release(). To carry on, grant a new lease
   * and put() the objects again with it.
   */
  onLost(cb: () => void): void;
  /** Stops keep-alive and deletes every object attached to the lease. */
  revoke(): Promise<void>;
  /** Stops keep-alive without revoking: objects vanish when the TTL runs out. */
  release(): void;
}

export interface WriteOptions {
  /**
   * Attach the object to a lease: it disappears when the lease expires or is revoked. Without
   * it, create() stores an unattached object and update()/put() keep whatever lease the stored
   * object already has (so a node refreshing its TwillNode stays attached to its liveness lease).
   */
  lease?: Lease;
}

export interface ListOptions {
  namespace?: string;
  fromCache?: boolean;
}

export interface Store {
  readonly name: string;
  /**
   * The store is a kube-apiserver: the Kubernetes objects in it (Services, EndpointSlices, Pods…)
   * passed its validation when written, so readers need not check them again (etcd and memory
   * stores have nothing in front of them: their readers validate).
   */
  readonly apiValidated?: boolean;
  /** How the connection is secured (TLS, client certificate, user), for `twill status`; no secrets. */
  readonly security?: string;

  /**
   * Every object of `kind` (of one namespace when given), consistent at one revision. With
   * `fromCache`, the store may answer from a cache that can lag the latest write (the
   * kube-apiserver's watch cache: resourceVersion 0, as client-go's informers list): still one
   * consistent revision, only perhaps an older one. For a cache that watches from that revision.
   */
  list<K extends Kind>(kind: K, opts?: ListOptions): Promise<ListResult<K>>;

  /** `key` is "name" or "namespace/name" (see objectKey()). */
  get<K extends Kind>(kind: K, key: string): Promise<ResourceOf<K> | undefined>;

  /**
   * Create-if-absent. Throws TwillError 'EXISTS' when the key is taken. Returns the stored object.
   * Any resourceVersion on `obj` is ignored. Of concurrent creates of one key exactly one wins.
   */
  create<K extends Kind>(obj: ResourceOf<K>, opts?: WriteOptions): Promise<ResourceOf<K>>;

  /**
   * Compare-and-swap on `obj.metadata.resourceVersion` (required: 'VALIDATION' without it).
   * Throws 'CONFLICT' when the stored object changed since, 'NOT_FOUND' when it is gone.
   * Returns the stored object (new resourceVersion).
   */
  update<K extends Kind>(obj: ResourceOf<K>, opts?: WriteOptions): Promise<ResourceOf<K>>;

  /** Create or overwrite without a revision check (for objects only one writer owns). */
  put<K extends Kind>(obj: ResourceOf<K>, opts?: WriteOptions): Promise<ResourceOf<K>>;

  /**
   * Deletes `key`. With `resourceVersion`, only if unchanged ('CONFLICT' otherwise).
   * Returns false when it was already gone.
   */
  delete(kind: Kind, key: string, opts?: { resourceVersion?: string }): Promise<boolean>;

  /** Watches one kind; survives disconnects by resuming from the last delivered revision. */
  watch<K extends Kind>(kind: K, opts: WatchOptions<K>): Watch;

  /** A lease kept alive automatically until revoke(), release() or close(). */
  grantLease(ttlSeconds: number): Promise<Lease>;

  /** Cheap liveness probe with a short timeout. Never throws. */
  ping(timeoutMs?: number): Promise<boolean>;

  /** Stops watches and keep-alives (leases are released, not revoked) and disconnects. */
  close(): Promise<void>;
}
