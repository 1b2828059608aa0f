// The memory store's "server": one revision counter, objects with their mod revisions, a bounded
// event history, leases on an injectable clock. Several MemoryStore clients may share one backend,
// like several agents sharing an etcd. Every method is synchronous, so each one is atomic.
import type { AnyResource, Kind } from '../../model/types.js';
import { TwillError } from '../../util/errors.js';
import { checkObject, parseKey, parseRevision, requireResourceVersion, withRevision } from '../keys.js';
import { systemClock, type Clock } from './clock.js';

export interface MemoryBackendOptions {
  /** Drives lease expiry and keep-alive. Default: the system clock. */
  clock?: Clock;
  /** Events kept for watch replay; older revisions are compacted (watchers RESYNC). Default 1000. */
  historyLimit?: number;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface BackendEvent {
  rev: bigint;
  type: EventType;
  kind: Kind;
  /** With resourceVersion set (for DELETED: the deletion's revision). */
  object: AnyResource;
}

/** What a client watch hears from the backend. */
export interface BackendListener {
  onCommit(): void;
  onDown(): void;
  onUp(): void;
}

interface Entry {
  kind: Kind;
  obj: AnyResource;
  modRev: bigint;
  lease: string | undefined;
}

interface LeaseRecord {
  ttlMs: number;
  expiresAt: number;
  keys: Set<string>;
  cancel: () => void;
}

export class MemoryBackend {
  readonly clock: Clock;
  private readonly historyLimit: number;
  private rev = 0n;
  private readonly data = new Map<string, Entry>();
  /** Sorted by rev; holds every event with rev > compacted (and possibly a few at it). */
  private history: BackendEvent[] = [];
  private compacted = 0n;
  private readonly leases = new Map<string, LeaseRecord>();
  private nextLeaseId = 1;
  private up = true;
  private readonly listeners = new Set<BackendListener>();

  constructor(opts: MemoryBackendOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.historyLimit = Math.max(1, opts.historyLimit ?? 1000);
  }

  get revision(): bigint {
    return this.rev;
  }
  get isUp(): boolean {
    return this.up;
  }

  subscribe(l: BackendListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  // ---------- reads ----------

  list(kind: Kind, namespace?: string): { items: AnyResource[]; revision: bigint } {
    this.ensureUp();
    const items: [string, AnyResource][] = [];
    for (const [sk, e] of this.data) {
      if (e.kind !== kind || (namespace !== undefined && e.obj.metadata.namespace !== namespace)) continue;
      items.push([sk, withRevision(e.obj, e.modRev.toString())]);
    }
    items.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return { items: items.map(([, o]) => o), revision: this.rev };
  }

  get(kind: Kind, key: string): AnyResource | undefined {
    this.ensureUp();
    parseKey(kind, key);
    const e = this.data.get(storeKey(kind, key));
    return e && withRevision(e.obj, e.modRev.toString());
  }

  /** Events of `kind` after `after`, or 'compacted' when history no longer reaches back that far. */
  eventsAfter(kind: Kind, after: bigint): BackendEvent[] | 'compacted' {
    if (after < this.compacted) return 'compacted';
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.history[mid]!.rev <= after) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo).filter((ev) => ev.kind === kind);
  }

  // ---------- writes ----------

  create(obj: AnyResource, lease?: string): AnyResource {
    this.ensureUp();
    const key = checkObject(obj);
    const sk = storeKey(obj.kind, key);
    if (this.data.has(sk)) throw new TwillError('EXISTS', `${obj.kind} ${key} already exists`);
    this.checkLease(lease);
    return this.write(sk, obj, lease);
  }

  update(obj: AnyResource, lease?: string): AnyResource {
    this.ensureUp();
    const key = checkObject(obj);
    const want = requireResourceVersion(obj, key);
    const sk = storeKey(obj.kind, key);
    const cur = this.data.get(sk);
    if (!cur) throw new TwillError('NOT_FOUND', `${obj.kind} ${key} not found (deleted since resourceVersion ${want}); re-read it`);
    if (cur.modRev !== want) {
      throw new TwillError('CONFLICT', `${obj.kind} ${key} changed since resourceVersion ${want} (now ${cur.modRev}); re-read and retry`);
    }
    this.checkLease(lease);
    return this.write(sk, obj, lease ?? cur.lease);
  }

  put(obj: AnyResource, lease?: string): AnyResource {
    this.ensureUp();
    const sk = storeKey(obj.kind, checkObject(obj));
    this.checkLease(lease);
    return this.write(sk, obj, lease ?? this.data.get(sk)?.lease);
  }

  delete(kind: Kind, key: string, resourceVersion?: string): boolean {
    this.ensureUp();
    parseKey(kind, key);
    const want = resourceVersion === undefined ? undefined : parseRevision(resourceVersion, 'resourceVersion');
    const sk = storeKey(kind, key);
    const cur = this.data.get(sk);
    if (!cur) return false;
    if (want !== undefined && cur.modRev !== want) {
      throw new TwillError('CONFLICT', `${kind} ${key} changed since resourceVersion ${want} (now ${cur.modRev}); not deleted`);
    }
    this.commit([this.remove(sk, this.rev + 1n)]);
    return true;
  }

  // ---------- leases ----------

  grantLease(ttlSeconds: number): string {
    this.ensureUp();
    const id = String(this.nextLeaseId++);
    const ttlMs = ttlSeconds * 1000;
    this.leases.set(id, { ttlMs, expiresAt: this.clock.now() + ttlMs, keys: new Set(), cancel: () => {} });
    this.armExpiry(id);
    return id;
  }

  /** Renews a lease; false when it no longer exists. */
  keepAlive(id: string): boolean {
    this.ensureUp();
    const l = this.leases.get(id);
    if (!l) return false;
    l.expiresAt = this.clock.now() + l.ttlMs;
    this.armExpiry(id);
    return true;
  }

  /** Deletes the lease and, in one revision, every object attached to it. */
  revokeLease(id: string): void {
    this.ensureUp();
    const l = this.leases.get(id);
    if (!l) return;
    l.cancel();
    this.leases.delete(id);
    if (l.keys.size === 0) return;
    const rev = this.rev + 1n;
    this.commit([...l.keys].sort().map((sk) => this.remove(sk, rev)));
  }

  hasLease(id: string): boolean {
    return this.leases.has(id);
  }

  // ---------- test controls ----------

  /** Drops history up to `rev` (default: now); watchers resuming from before it RESYNC. */
  compact(rev: bigint = this.rev): void {
    if (rev > this.compacted) this.compacted = rev;
    this.history = this.history.filter((ev) => ev.rev > this.compacted);
  }

  /** Takes the backend away: every call fails, watchers report disconnected, leases freeze. */
  stop(): void {
    if (!this.up) return;
    this.up = false;
    for (const l of [...this.listeners]) l.onDown();
  }

  /** Brings it back with its data. Like etcd after a restart, every lease gets a full TTL. */
  start(): void {
    if (this.up) return;
    this.up = true;
    for (const [id, l] of this.leases) {
      l.expiresAt = this.clock.now() + l.ttlMs;
      this.armExpiry(id);
    }
    for (const l of [...this.listeners]) l.onUp();
  }

  // ---------- internals ----------

  private ensureUp(): void {
    if (!this.up) throw new TwillError('DATASTORE', 'memory datastore is down (stopped by a test); retry when it is back');
  }

  private checkLease(lease: string | undefined): void {
    if (lease !== undefined && !this.leases.has(lease)) {
      throw new TwillError('DATASTORE', `lease ${lease} is gone (expired or revoked); grant a new lease`);
    }
  }

  private write(sk: string, obj: AnyResource, lease: string | undefined): AnyResource {
    const prev = this.data.get(sk);
    const rev = this.rev + 1n;
    const stored = withRevision(obj, undefined);
    if (prev?.lease !== undefined && prev.lease !== lease) this.leases.get(prev.lease)?.keys.delete(sk);
    if (lease !== undefined) this.leases.get(lease)?.keys.add(sk);
    this.data.set(sk, { kind: obj.kind, obj: stored, modRev: rev, lease });
    const object = withRevision(stored, rev.toString());
    this.commit([{ rev, type: prev ? 'MODIFIED' : 'ADDED', kind: obj.kind, object }]);
    return withRevision(object, rev.toString());
  }

  private remove(sk: string, rev: bigint): BackendEvent {
    const cur = this.data.get(sk)!;
    this.data.delete(sk);
    if (cur.lease !== undefined) this.leases.get(cur.lease)?.keys.delete(sk);
    return { rev, type: 'DELETED', kind: cur.kind, object: withRevision(cur.obj, rev.toString()) };
  }

  private commit(events: BackendEvent[]): void {
    const first = events[0];
    if (!first) return;
    this.rev = first.rev;
    this.history.push(...events);
    let drop = 0;
    while (this.history.length - drop > this.historyLimit) drop++;
    if (drop > 0) {
      const lastDropped = this.history[drop - 1]!.rev;
      this.history = this.history.slice(drop);
      // A revision is replayable only whole: compact through the last revision we cut into.
      this.compact(lastDropped);
    }
    for (const l of [...this.listeners]) l.onCommit();
  }

  private armExpiry(id: string): void {
    const l = this.leases.get(id);
    if (!l) return;
    l.cancel();
    l.cancel = this.clock.setTimer(() => {
      const cur = this.leases.get(id);
      if (!cur || !this.up) return; // a stopped backend expires nothing; start() re-arms
      if (this.clock.now() < cur.expiresAt) this.armExpiry(id);
      else this.revokeLease(id);
    }, Math.max(0, l.expiresAt - this.clock.now()));
  }
}

function storeKey(kind: Kind, key: string): string {
  return `${kind}/${key}`;
}
