// The datastore seam. Every implementation (memory, etcd, later kubernetes) passes one shared
// conformance suite (conformance.ts). Callers never learn which one they hold.
import type { Kind, ResourceOf } from '../model/types.js';

export interface ListResult<K extends Kind> {
  items: ResourceOf<K>[];
  /** Store revision the list is consistent at; pass it to watch() to miss nothing. */
  revision: string;
}

export type WatchEvent<K extends Kind> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: ResourceOf<K>; revision: string }
  /**
   * The watch could not resume from its revision (history compacted, or the implementation
   * cannot replay): here is the complete current state instead. Handlers replace their cache.
   */
  | { type: 'RESYNC'; items: ResourceOf<K>[]; revision: string };

export interface WatchOptions<K extends Kind> {
  /** Deliver changes after this revision (from list()). */
  fromRevision: string;
  onEvent: (ev: WatchEvent<K>) => void;
  /** Connection lost / restored, for logs and status; the watch keeps retrying on its own. */
  onStatus?: (s: { connected: boolean; error?: unknown }) => void;
}

export interface Watch {
  stop(): void;
}

export interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  /** Called once if the lease is lost (expired while disconnected, revoked elsewhere). */
  onLost(cb: () => void): void;
  /** Stops keep-alive and deletes every object attached to the lease. */
  revoke(): Promise<void>;
  /** Stops keep-alive without revoking: objects vanish when the TTL runs out. */
  release(): void;
}

export interface WriteOptions {
  /** Attach the object to a lease: it disappears when the lease expires or is revoked. */
  lease?: Lease;
}

export interface Store {
  readonly name: string;

  list<K extends Kind>(kind: K, opts?: { namespace?: string }): Promise<ListResult<K>>;

  get<K extends Kind>(kind: K, key: string): Promise<ResourceOf<K> | undefined>;

  /** Create-if-absent. Throws TwillError 'EXISTS' when the key is taken. Returns the stored object. */
  create<K extends Kind>(obj: ResourceOf<K>, opts?: WriteOptions): Promise<ResourceOf<K>>;

  /**
   * Compare-and-swap on `obj.metadata.resourceVersion`. Throws 'CONFLICT' when the stored object
   * changed since, 'NOT_FOUND' when it is gone. Returns the stored object (new resourceVersion).
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

  grantLease(ttlSeconds: number): Promise<Lease>;

  /** Cheap liveness probe with a short timeout. */
  ping(timeoutMs?: number): Promise<boolean>;

  close(): Promise<void>;
}
