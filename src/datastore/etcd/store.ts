// The etcd Store: objects as JSON under one prefix, create-if-absent and compare-and-swap as
// transactions on create/mod revisions, watches that resume (watch.ts), leases with a keeper
// (lease.ts). The Flannel/Calico model, and the lab's datastore.
import type { IKeyValue, IPutRequest, ITxnRequest, ITxnResponse } from 'etcd3';
import { isEtcd3Error } from './etcd3.js';
import type { AnyResource, Kind, ResourceOf } from '../../model/types.js';
import { TwillError } from '../../util/errors.js';
import { rootLogger } from '../../util/log.js';
import { checkNamespace, checkObject, checkTtl, parseRevision, requireResourceVersion, withRevision } from '../keys.js';
import type { Lease, ListResult, Store, Watch, WatchOptions, WriteOptions } from '../store.js';
import { KeyCodec, decodeValue, encodeValue, prefixEnd } from './codec.js';
import { EtcdConnection, type EtcdStoreOptions } from './connection.js';
import { EtcdLease } from './lease.js';
import { EtcdWatch } from './watch.js';
import { trackedWatch } from '../handles.js';

const log = rootLogger.child('datastore/etcd');
const PAGE = 500;

export class EtcdStore implements Store {
  readonly name: string;
  readonly security: string;
  private readonly conn: EtcdConnection;
  private readonly codec: KeyCodec;
  private readonly watches = new Set<Watch>();
  private readonly leases = new Set<EtcdLease>();
  private closed = false;

  constructor(opts: EtcdStoreOptions) {
    this.codec = new KeyCodec(opts.prefix);
    this.conn = new EtcdConnection(opts);
    this.name = `etcd:${this.conn.endpoint}`;
    this.security = this.conn.security.summary;
  }

  async list<K extends Kind>(kind: K, opts: { namespace?: string } = {}): Promise<ListResult<K>> {
    checkNamespace(kind, opts.namespace);
    const { kvs, revision } = await this.rangeAll(`listing ${kind}`, this.codec.kindPrefix(kind, opts.namespace));
    const items: ResourceOf<K>[] = [];
    for (const kv of kvs) {
      try {
        items.push(decodeValue(kind, kv.key, kv.value, kv.mod_revision) as ResourceOf<K>);
      } catch (e) {
        log.error('skipping an undecodable object', { key: kv.key.toString(), error: e });
      }
    }
    return { items, revision };
  }

  async get<K extends Kind>(kind: K, key: string): Promise<ResourceOf<K> | undefined> {
    const k = this.codec.key(kind, key);
    const res = await this.call(`reading ${kind} ${key}`, () => this.conn.client.kv.range({ key: k }));
    const kv = res.kvs[0];
    return kv && (decodeValue(kind, kv.key, kv.value, kv.mod_revision) as ResourceOf<K>);
  }

  async create<K extends Kind>(obj: ResourceOf<K>, opts: WriteOptions = {}): Promise<ResourceOf<K>> {
    const key = checkObject(obj);
    const k = this.codec.objectKey(obj);
    const lease = this.leaseOf(opts);
    const res = await this.txn(`creating ${obj.kind} ${key}`, lease, {
      compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: this.putOp(k, obj, lease) }],
    });
    if (!res.succeeded) throw new TwillError('EXISTS', `${obj.kind} ${key} already exists in etcd at ${this.conn.endpoint}`);
    return withRevision(obj, res.header.revision);
  }

  async update<K extends Kind>(obj: ResourceOf<K>, opts: WriteOptions = {}): Promise<ResourceOf<K>> {
    const key = checkObject(obj);
    const want = requireResourceVersion(obj, key);
    const k = this.codec.objectKey(obj);
    const lease = this.leaseOf(opts);
    const res = await this.txn(`updating ${obj.kind} ${key}`, lease, {
      compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: want.toString() }],
      success: [{ request_put: this.putOp(k, obj, lease, true) }],
      failure: [{ request_range: { key: k, keys_only: true } }],
    });
    if (!res.succeeded) {
      const cur = res.responses[0]?.response_range.kvs[0];
      const at = `etcd at ${this.conn.endpoint}`;
      if (!cur) throw new TwillError('NOT_FOUND', `${obj.kind} ${key} not found in ${at} (deleted since resourceVersion ${want}); re-read it`);
      throw new TwillError('CONFLICT', `${obj.kind} ${key} in ${at} changed since resourceVersion ${want} (now ${cur.mod_revision}); re-read and retry`);
    }
    return withRevision(obj, res.header.revision);
  }

  async put<K extends Kind>(obj: ResourceOf<K>, opts: WriteOptions = {}): Promise<ResourceOf<K>> {
    const key = checkObject(obj);
    const k = this.codec.objectKey(obj);
    const lease = this.leaseOf(opts);
    // etcd detaches a key from its lease on a plain put; ignore_lease keeps it, but only for a
    // key that exists — hence the transaction.
    const res = await this.txn(`writing ${obj.kind} ${key}`, lease, {
      compare: [{ key: k, target: 'Create', result: 'Greater', create_revision: 0 }],
      success: [{ request_put: this.putOp(k, obj, lease, true) }],
      failure: [{ request_put: this.putOp(k, obj, lease, false) }],
    });
    return withRevision(obj, res.header.revision);
  }

  async delete(kind: Kind, key: string, opts: { resourceVersion?: string } = {}): Promise<boolean> {
    const k = this.codec.key(kind, key);
    const what = `deleting ${kind} ${key}`;
    if (opts.resourceVersion === undefined) {
      const res = await this.call(what, () => this.conn.client.kv.deleteRange({ key: k }));
      return Number(res.deleted) > 0;
    }
    const want = parseRevision(opts.resourceVersion, 'resourceVersion');
    const res = await this.txn(what, undefined, {
      compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: want.toString() }],
      success: [{ request_delete_range: { key: k } }],
      failure: [{ request_range: { key: k, keys_only: true } }],
    });
    if (res.succeeded) return Number(res.responses[0]?.response_delete_range.deleted ?? 0) > 0;
    const cur = res.responses[0]?.response_range.kvs[0];
    if (!cur) return false;
    throw new TwillError('CONFLICT', `${kind} ${key} in etcd at ${this.conn.endpoint} changed since resourceVersion ${want} (now ${cur.mod_revision}); not deleted`);
  }

  watch<K extends Kind>(kind: K, opts: WatchOptions<K>): Watch {
    this.ensureOpen();
    const w = new EtcdWatch({ conn: this.conn, codec: this.codec, kind, list: () => this.list(kind) }, opts);
    return trackedWatch(this.watches, () => w.stop());
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    checkTtl(ttlSeconds);
    const sentAt = performance.now(); // monotonic: see EtcdLease.renewed
    const res = await this.call(`granting a ${ttlSeconds} s lease`, () => this.conn.client.leaseClient.leaseGrant({ TTL: ttlSeconds }));
    const lease = new EtcdLease(this.conn, res.ID, ttlSeconds, sentAt);
    this.leases.add(lease);
    return lease;
  }

  async ping(timeoutMs = 1_000): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.conn.client.kv.range({ key: Buffer.from(this.codec.prefix), count_only: true }, { deadline: Date.now() + timeoutMs });
      return true;
    } catch {
      // why: ping answers a yes/no question: any failure is no
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) w.stop();
    for (const l of this.leases) l.release();
    this.leases.clear();
    this.conn.close();
  }

  // ---------- internals ----------

  private ensureOpen(): void {
    if (this.closed) throw new TwillError('DATASTORE', `etcd store for ${this.conn.endpoint} is closed`);
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.ensureOpen();
    return this.conn.call(what, fn);
  }

  private async txn(what: string, lease: EtcdLease | undefined, req: ITxnRequest): Promise<ITxnResponse> {
    try {
      return await this.call(what, () => this.conn.client.kv.txn(req));
    } catch (e) {
      if (lease && e instanceof TwillError && isEtcd3Error(e.cause, 'EtcdLeaseInvalidError')) lease.markLost();
      throw e;
    }
  }

  private putOp(key: Buffer, obj: AnyResource, lease: EtcdLease | undefined, keepLease = false): IPutRequest {
    const op: IPutRequest = { key, value: encodeValue(obj) };
    if (lease) op.lease = lease.idForWrite();
    else if (keepLease) op.ignore_lease = true;
    return op;
  }

  private leaseOf(opts: WriteOptions): EtcdLease | undefined {
    if (!opts.lease) return undefined;
    if (!(opts.lease instanceof EtcdLease) || !this.leases.has(opts.lease)) {
      throw new TwillError('VALIDATION', `lease ${opts.lease.id} was not granted by this store`);
    }
    opts.lease.idForWrite();
    return opts.lease;
  }

  /** Every key under `prefix` at one revision, in pages (large lists exceed one message). */
  private async rangeAll(what: string, prefix: Buffer): Promise<{ kvs: IKeyValue[]; revision: string }> {
    const end = prefixEnd(prefix);
    const kvs: IKeyValue[] = [];
    let from = prefix;
    let revision: string | undefined;
    for (let page = 0; page < 1_000_000; page++) {
      const res = await this.call(what, () =>
        this.conn.client.kv.range({ key: from, range_end: end, limit: PAGE, ...(revision === undefined ? {} : { revision }) }),
      );
      revision ??= res.header.revision;
      kvs.push(...res.kvs);
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) break;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
    return { kvs, revision: revision ?? '0' };
  }
}
