// The kubernetes Store: core kinds (Pod, Node, Namespace, NetworkPolicy, Service, EndpointSlice)
// from their APIs, Twill's
// kinds from the twill.dev CRDs (crds.ts), liveness from Leases (lease.ts), watches that resume
// (watch.ts). Lists are paginated so a 30,000-pod list never sits in memory as one JSON text.
import type { AnyResource, Kind, ResourceOf } from '../../model/types.js';
import { TwillError, isTwillError } from '../../util/errors.js';
import { checkNamespace, checkObject, checkTtl, parseKey, requireResourceVersion } from '../keys.js';
import { trackedWatch } from '../handles.js';
import type { Lease, ListOptions, ListResult, Store, Watch, WatchOptions, WriteOptions } from '../store.js';
import type { ClusterAccess } from './access.js';
import { KubeClient } from './client.js';
import { KubeLease, LeaseReaper } from './lease.js';
import { DEFAULT_LEASE_NAMESPACE } from './rbac.js';
import { LEASE_LABEL, collectionPath, decodeObject, describeOp, encodeObject, isTwillKind, leaseOfRaw, objectPath } from './resources.js';
import { KubeWatch } from './watch.js';
import { PROTOBUF_KINDS, decodeProtobufList } from './proto/lists.js';

export interface KubernetesStoreOptions {
  access: ClusterAccess;
  /** Namespace of the liveness Leases (default twill-system). */
  leaseNamespace?: string;
  /** Items per list page (default 500). */
  pageSize?: number;
  /** false: Services and EndpointSlices are listed as JSON too (default: protobuf, proto/lists.ts). */
  protobuf?: boolean;
}

type Obj = Record<string, unknown>;

/** Kinds the store projects on read (resources.ts): writing them back would drop fields. */
const READ_ONLY_UPDATE = new Set<Kind>(['Pod', 'Node', 'Service', 'EndpointSlice']);
const PUT_ATTEMPTS = 8;

export class KubernetesStore implements Store {
  readonly name: string;
  readonly apiValidated = true;
  readonly client: KubeClient;
  readonly leaseNamespace: string;
  private readonly pageSize: number;
  private readonly protobuf: boolean;
  private readonly watches = new Set<Watch>();
  private readonly leases = new Set<KubeLease>();
  private reaper: Promise<LeaseReaper> | undefined;
  private closed = false;

  constructor(opts: KubernetesStoreOptions) {
    this.client = new KubeClient(opts.access);
    this.leaseNamespace = opts.leaseNamespace ?? DEFAULT_LEASE_NAMESPACE;
    this.pageSize = opts.pageSize ?? 500;
    this.protobuf = opts.protobuf ?? true;
    this.name = `kubernetes:${opts.access.server}`;
  }

  async list<K extends Kind>(kind: K, opts: ListOptions = {}): Promise<ListResult<K>> {
    checkNamespace(kind, opts.namespace);
    const { items, revision } = await this.listRaw(kind, opts.namespace, undefined, opts.fromCache);
    return { items, revision };
  }

  /** All pages of a list at one resourceVersion, decoded page by page. */
  private async listRaw<K extends Kind>(kind: K, namespace?: string, labelSelector?: string, fromCache = false): Promise<ListResult<K>> {
    for (let attempt = 0; ; attempt++) {
      const items: ResourceOf<K>[] = [];
      let cont: string | undefined;
      let revision = '';
      try {
        do {
          const q = new URLSearchParams({ limit: String(this.pageSize) });
          if (cont) q.set('continue', cont);
          // resourceVersion 0: any revision the apiserver's watch cache holds, no read from etcd
          // (a continue token carries the revision of the first page).
          else if (fromCache) q.set('resourceVersion', '0');
          if (labelSelector) q.set('labelSelector', labelSelector);
          // Each item is decoded as it arrives: no page of raw objects is ever held (list-stream.ts).
          // Services and EndpointSlices come in protobuf when the server sends it (proto/lists.ts).
          const proto = this.protobuf && PROTOBUF_KINDS.has(kind) ? (body: Buffer) => decodeProtobufList(kind, body, (o) => items.push(o)) : undefined;
          const page = await this.client.requestList<Obj>(`${collectionPath(kind, namespace)}?${q}`, { what: describeOp('listing', kind) }, (o) => items.push(decodeObject(kind, o)), proto);
          if (typeof page.metadata?.resourceVersion !== 'string') throw new TwillError('DECODE', `${describeOp('listing', kind)}: the answer has no metadata.resourceVersion`);
          revision = page.metadata.resourceVersion;
          cont = page.metadata.continue || undefined;
        } while (cont);
        return { items, revision };
      } catch (e) {
        // A continue token outlived the server's history (410): start the list again, once more.
        if (attempt === 0 && cont && (e as { httpStatus?: number }).httpStatus === 410) continue;
        throw e;
      }
    }
  }

  async get<K extends Kind>(kind: K, key: string): Promise<ResourceOf<K> | undefined> {
    const raw = await this.getRaw(kind, key);
    return raw && decodeObject(kind, raw);
  }

  private async getRaw(kind: Kind, key: string): Promise<Obj | undefined> {
    const { namespace, name } = parseKey(kind, key);
    try {
      return await this.client.request<Obj>(objectPath(kind, name, namespace), { what: describeOp('reading', kind, key) });
    } catch (e) {
      if (isTwillError(e, 'NOT_FOUND')) return undefined;
      throw e;
    }
  }

  async create<K extends Kind>(obj: ResourceOf<K>, opts: WriteOptions = {}): Promise<ResourceOf<K>> {
    const key = checkObject(obj);
    const lease = this.leaseOf(obj.kind, opts);
    const body = encodeObject(obj, lease);
    const created = await this.client.request<Obj>(collectionPath(obj.kind, obj.metadata.namespace), { method: 'POST', body, what: describeOp('creating', obj.kind, key) });
    return decodeObject(obj.kind, created) as ResourceOf<K>;
  }

  async update<K extends Kind>(obj: ResourceOf<K>, opts: WriteOptions = {}): Promise<ResourceOf<K>> {
    const key = checkObject(obj);
    requireResourceVersion(obj, key);
    this.checkWritable(obj.kind, 'update');
    const rv = obj.metadata.resourceVersion!;
    let lease = this.leaseOf(obj.kind, opts);
    if (lease === undefined && isTwillKind(obj.kind)) {
      // Keep the stored lease attachment (callers do not see the label).
      const stored = await this.getRaw(obj.kind, key);
      if (!stored) throw new TwillError('NOT_FOUND', `${obj.kind} ${key} not found (deleted since resourceVersion ${rv}); re-read it`);
      if ((stored['metadata'] as Obj)['resourceVersion'] !== rv) throw new TwillError('CONFLICT', `${obj.kind} ${key} changed since resourceVersion ${rv}; re-read it and retry`);
      lease = leaseOfRaw(stored);
    }
    return await this.putAt(obj, lease, rv, 'updating');
  }

  private async putAt<K extends Kind>(obj: ResourceOf<K>, lease: string | undefined, rv: string, verb: string): Promise<ResourceOf<K>> {
    const key = checkObject(obj);
    const path = objectPath(obj.kind, obj.metadata.name, obj.metadata.namespace);
    try {
      const stored = await this.client.request<Obj>(path, { method: 'PUT', body: encodeObject(obj, lease, rv), what: describeOp(verb, obj.kind, key) });
      return decodeObject(obj.kind, stored) as ResourceOf<K>;
    } catch (e) {
      if (isTwillError(e, 'NOT_FOUND')) throw new TwillError('NOT_FOUND', `${obj.kind} ${key} not found (deleted since resourceVersion ${rv}); re-read it`, { cause: e });
      throw e;
    }
  }

  async put<K extends Kind>(obj: ResourceOf<K>, opts: WriteOptions = {}): Promise<ResourceOf<K>> {
    const key = checkObject(obj);
    this.checkWritable(obj.kind, 'put');
    const given = this.leaseOf(obj.kind, opts);
    // Custom resources refuse an update without resourceVersion: read, then compare-and-swap,
    // and go round again if another writer slipped in between.
    for (let i = 0; i < PUT_ATTEMPTS; i++) {
      const stored = await this.getRaw(obj.kind, key);
      try {
        if (!stored) return await this.create(obj, opts);
        const rv = String((stored['metadata'] as Obj)['resourceVersion']);
        return await this.putAt(obj, given ?? leaseOfRaw(stored), rv, 'writing');
      } catch (e) {
        if (!isTwillError(e, 'EXISTS') && !isTwillError(e, 'CONFLICT') && !isTwillError(e, 'NOT_FOUND')) throw e;
      }
    }
    throw new TwillError('CONFLICT', `writing ${obj.kind} ${key}: other writers changed it ${PUT_ATTEMPTS} times in a row; retry later`);
  }

  async delete(kind: Kind, key: string, opts: { resourceVersion?: string } = {}): Promise<boolean> {
    const { namespace, name } = parseKey(kind, key);
    const body = opts.resourceVersion === undefined ? undefined : { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: opts.resourceVersion } };
    try {
      await this.client.request(objectPath(kind, name, namespace), { method: 'DELETE', body, what: describeOp('deleting', kind, key) });
      return true;
    } catch (e) {
      if (isTwillError(e, 'NOT_FOUND')) return false;
      if (isTwillError(e, 'CONFLICT')) throw new TwillError('CONFLICT', `${kind} ${key} changed since resourceVersion ${opts.resourceVersion}; not deleted`, { cause: e });
      throw e;
    }
  }

  watch<K extends Kind>(kind: K, opts: WatchOptions<K>): Watch {
    const w = new KubeWatch<ResourceOf<K>>(
      { client: this.client, path: collectionPath(kind), what: describeOp('watching', kind), decode: (o) => decodeObject(kind, o), list: () => this.listRaw(kind) },
      opts,
    );
    return trackedWatch(this.watches, () => w.stop());
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    checkTtl(ttlSeconds);
    if (this.closed) throw new TwillError('DATASTORE', 'the kubernetes store is closed');
    await this.startReaper();
    const lease = await KubeLease.grant(this.client, this.leaseNamespace, ttlSeconds);
    this.leases.add(lease);
    return lease;
  }

  /** Every store that holds leases also reaps expired ones (lease.ts). */
  private startReaper(): Promise<LeaseReaper> {
    this.reaper ??= (async () => {
      const r = new LeaseReaper(this.client, this.leaseNamespace);
      await r.start();
      return r;
    })().catch((e: unknown) => {
      this.reaper = undefined;
      throw e;
    });
    return this.reaper;
  }

  async ping(timeoutMs = 2000): Promise<boolean> {
    try {
      return (await this.client.probe('/readyz', { what: 'probing /readyz', timeoutMs })) === 200;
    } catch {
      // why: ping answers a yes/no question: any failure is no
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of [...this.watches]) w.stop();
    for (const l of this.leases) l.release();
    // why: closing: a reaper that never started has nothing to stop (its start failure was reported)
    const reaper = await this.reaper?.catch(() => undefined);
    reaper?.stop();
    this.client.close();
  }

  private leaseOf(kind: Kind, opts: WriteOptions): string | undefined {
    if (!opts.lease) return undefined;
    const l = opts.lease as KubeLease;
    if (!(l instanceof KubeLease)) throw new TwillError('VALIDATION', 'that lease was not granted by a kubernetes store');
    l.held.assertHeld();
    if (!isTwillKind(kind)) throw new TwillError('VALIDATION', `${kind} cannot be attached to a lease in the kubernetes datastore (only Twill's kinds can)`);
    return l.id;
  }

  private checkWritable(kind: Kind, verb: string): void {
    if (READ_ONLY_UPDATE.has(kind)) {
      throw new TwillError('VALIDATION', `the kubernetes datastore does not ${verb} ${kind} objects (it keeps only the fields Twill reads); the kubelet and the API own them`);
    }
  }

  /** Resolves when the lease reaper's sweep of vanished leases' objects is done (tests). */
  async reaperSwept(): Promise<void> {
    await (await this.reaper)?.swept();
  }

  /** The objects `lease` holds (for tests and diagnostics). */
  async attachedTo(kind: Kind, lease: string): Promise<AnyResource[]> {
    return (await this.listRaw(kind, undefined, `${LEASE_LABEL}=${lease}`)).items;
  }
}
