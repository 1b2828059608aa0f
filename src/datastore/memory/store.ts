// A Store client over a MemoryBackend. Tests give several clients one backend to play several
// agents; the backend's stop()/start()/compact() and a ManualClock script outages and expiry.
import type { Kind, ResourceOf } from '../../model/types.js';
import { TwillError } from '../../util/errors.js';
import { checkKind, checkNamespace, checkTtl } from '../keys.js';
import type { Lease, ListResult, Store, Watch, WatchOptions, WriteOptions } from '../store.js';
import { MemoryBackend } from './backend.js';
import { MemoryLease } from './lease.js';
import { MemoryWatch } from './watch.js';
import { trackedWatch } from '../handles.js';

export class MemoryStore implements Store {
  readonly name = 'memory';
  private closed = false;
  private readonly watches = new Set<Watch>();
  private readonly leases = new Set<MemoryLease>();

  constructor(readonly backend: MemoryBackend = new MemoryBackend()) {}

  async list<K extends Kind>(kind: K, opts: { namespace?: string } = {}): Promise<ListResult<K>> {
    this.ensureOpen();
    checkNamespace(kind, opts.namespace);
    const { items, revision } = this.backend.list(kind, opts.namespace);
    return { items: items as ResourceOf<K>[], revision: revision.toString() };
  }

  async get<K extends Kind>(kind: K, key: string): Promise<ResourceOf<K> | undefined> {
    this.ensureOpen();
    return this.backend.get(kind, key) as ResourceOf<K> | undefined;
  }

  async create<K extends Kind>(obj: ResourceOf<K>, opts: WriteOptions = {}): Promise<ResourceOf<K>> {
    this.ensureOpen();
    return this.backend.create(obj, this.leaseId(opts)) as ResourceOf<K>;
  }

  async update<K extends Kind>(obj: ResourceOf<K>, opts: WriteOptions = {}): Promise<ResourceOf<K>> {
    this.ensureOpen();
    return this.backend.update(obj, this.leaseId(opts)) as ResourceOf<K>;
  }

  async put<K extends Kind>(obj: ResourceOf<K>, opts: WriteOptions = {}): Promise<ResourceOf<K>> {
    this.ensureOpen();
    return this.backend.put(obj, this.leaseId(opts)) as ResourceOf<K>;
  }

  async delete(kind: Kind, key: string, opts: { resourceVersion?: string } = {}): Promise<boolean> {
    this.ensureOpen();
    return this.backend.delete(kind, key, opts.resourceVersion);
  }

  watch<K extends Kind>(kind: K, opts: WatchOptions<K>): Watch {
    this.ensureOpen();
    checkKind(kind);
    const w = new MemoryWatch(this.backend, kind, opts);
    return trackedWatch(this.watches, () => w.stop());
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    this.ensureOpen();
    checkTtl(ttlSeconds);
    const lease = new MemoryLease(this.backend, this.backend.grantLease(ttlSeconds), ttlSeconds);
    this.leases.add(lease);
    return lease;
  }

  async ping(): Promise<boolean> {
    return !this.closed && this.backend.isUp;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of [...this.watches]) w.stop();
    for (const l of this.leases) l.release();
    this.leases.clear();
  }

  private ensureOpen(): void {
    if (this.closed) throw new TwillError('DATASTORE', 'memory store client is closed');
  }

  private leaseId(opts: WriteOptions): string | undefined {
    if (!opts.lease) return undefined;
    if (!(opts.lease instanceof MemoryLease) || !this.leases.has(opts.lease)) {
      throw new TwillError('VALIDATION', `lease ${opts.lease.id} was not granted by this store client`);
    }
    return opts.lease.idForWrite();
  }
}
