// The two ways Twill writes shared state, done once and correctly on top of any Store:
// - readModifyWrite: compare-and-swap with re-read on CONFLICT (IPAM block claims and releases);
// - LeasedObjects: objects that exist only while their holder lives (node liveness), re-written
//   under a fresh lease whenever the old one is lost (etcd's concurrency.Session idea).
import type { AnyResource, Kind, ResourceOf } from '../model/types.js';
import { objectKey } from '../model/types.js';
import { TwillError, isTwillError } from '../util/errors.js';
import { rootLogger } from '../util/log.js';
import type { Lease, Store } from './store.js';

const log = rootLogger.child('datastore');

/**
 * Reads `key`, lets `fn` decide the new object (undefined: leave it as it is), and writes it with
 * create() when absent or a CAS update() otherwise. On CONFLICT/EXISTS (someone else wrote first)
 * it reads again and asks `fn` again, at most `attempts` times. Returns what is stored after.
 * `fn` must be pure: it may run several times.
 */
export async function readModifyWrite<K extends Kind>(
  store: Store,
  kind: K,
  key: string,
  fn: (current: ResourceOf<K> | undefined) => ResourceOf<K> | undefined,
  opts: { attempts?: number; lease?: Lease } = {},
): Promise<ResourceOf<K> | undefined> {
  const attempts = opts.attempts ?? 10;
  const write = opts.lease ? { lease: opts.lease } : {};
  for (let i = 1; ; i++) {
    const current = await store.get(kind, key);
    const next = fn(current === undefined ? undefined : structuredClone(current));
    if (next === undefined) return current;
    try {
      if (current === undefined) return await store.create(next, write);
      const cas = structuredClone(next);
      cas.metadata.resourceVersion = current.metadata.resourceVersion;
      return await store.update<K>(cas, write);
    } catch (e) {
      const raced = isTwillError(e, 'CONFLICT') || isTwillError(e, 'EXISTS') || isTwillError(e, 'NOT_FOUND');
      if (!raced || i >= attempts) throw e;
    }
  }
}

export interface LeasedObjectsOptions {
  ttlSeconds: number;
  /** Delay before re-granting after a loss, doubling to 16×. Default 500 ms. */
  retryMs?: number;
  /** The lease was lost; objects may have vanished until `onRegained`. */
  onLost?: () => void;
  /** A new lease was granted and every object written again under it. */
  onRegained?: () => void;
}

/**
 * Keeps a set of objects present under one lease for as long as this holder lives. When the
 * lease is lost it grants a new one and puts every object again; close() revokes (or releases).
 */
export class LeasedObjects {
  private lease: Lease | undefined;
  private readonly objects = new Map<string, AnyResource>();
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  private constructor(
    private readonly store: Store,
    private readonly opts: LeasedObjectsOptions,
  ) {}

  /** Grants the first lease; throws when the store cannot. */
  static async open(store: Store, opts: LeasedObjectsOptions): Promise<LeasedObjects> {
    const h = new LeasedObjects(store, opts);
    await h.establish();
    return h;
  }

  get leaseId(): string | undefined {
    return this.lease?.id;
  }

  /**
   * Writes `obj` under the current lease and remembers it, to write again after a re-grant.
   * Between a loss and the re-grant it throws TRY_AGAIN (the object stays remembered).
   */
  async put<K extends Kind>(obj: ResourceOf<K>): Promise<ResourceOf<K>> {
    if (this.closed) throw new TwillError('DATASTORE', 'LeasedObjects is closed');
    this.objects.set(`${obj.kind}/${objectKey(obj)}`, structuredClone(obj));
    const lease = this.lease;
    if (!lease) throw new TwillError('TRY_AGAIN', `lease lost; ${obj.kind} ${objectKey(obj)} will be written under the next lease`);
    return this.store.put(obj, { lease });
  }

  /** Forgets and deletes an object. */
  async delete(kind: Kind, key: string): Promise<boolean> {
    this.objects.delete(`${kind}/${key}`);
    return this.store.delete(kind, key);
  }

  /** revoke (default): the objects vanish now; otherwise they vanish when the TTL runs out. */
  async close(opts: { revoke?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    if (opts.revoke === false) lease.release();
    else await lease.revoke();
  }

  private async establish(): Promise<void> {
    const lease = await this.store.grantLease(this.opts.ttlSeconds);
    // Closed while the grant was in flight: revoking is a courtesy; if it fails, the lease ends
    // at its TTL with nothing attached to it, so ignoring the failure loses nothing.
    // why: closing: a lease that cannot be revoked runs out at its TTL with nothing attached
    if (this.closed) return void (await lease.revoke().catch(() => {}));
    try {
      for (const obj of this.objects.values()) await this.store.put(obj, { lease });
    } catch (e) {
      lease.release();
      throw e;
    }
    this.lease = lease;
    lease.onLost(() => this.lost(lease));
  }

  private lost(lease: Lease): void {
    if (this.closed || lease !== this.lease) return;
    this.lease = undefined;
    log.warn('lease lost; re-granting', { lease: lease.id, objects: this.objects.size });
    this.opts.onLost?.();
    this.regrant(0);
  }

  private regrant(attempt: number): void {
    const base = this.opts.retryMs ?? 500;
    this.retry = setTimeout(() => {
      this.establish().then(
        () => {
          if (!this.closed) this.opts.onRegained?.();
        },
        (e: unknown) => {
          if (this.closed) return;
          log.debug('re-grant failed; retrying', { error: e });
          this.regrant(attempt + 1);
        },
      );
    }, base * 2 ** Math.min(attempt, 4));
  }
}
