// One etcd watch stream per Store.watch(). We keep our own resume point instead of using etcd3's
// Watcher, which moves its start revision to the server's current revision when a watch is
// (re)created — before the catch-up events arrive — and would skip them if the stream broke then.
// Resume point = the last delivered event's revision + 1 (a revision's events always arrive in
// one response), advanced further by progress notifications, which etcd sends only to watchers
// that have caught up.
import type { IDuplexStream, IEvent, IWatchRequest, IWatchResponse } from 'etcd3';
import type { AnyResource, Kind, ResourceOf } from '../../model/types.js';
import { rootLogger } from '../../util/log.js';
import { callSafely } from '../callbacks.js';
import { API_VERSION, parseKey, parseRevision } from '../keys.js';
import type { ListResult, Watch, WatchEvent, WatchOptions } from '../store.js';
import { decodeValue, prefixEnd, type KeyCodec } from './codec.js';
import type { EtcdConnection } from './connection.js';

const log = rootLogger.child('datastore/etcd');
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 2_000;

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

export interface EtcdWatchDeps<K extends Kind> {
  conn: EtcdConnection;
  codec: KeyCodec;
  kind: K;
  list: () => Promise<ListResult<K>>;
}

export class EtcdWatch<K extends Kind> implements Watch {
  private next: bigint;
  private stream: WatchStream | undefined;
  private gen = 0;
  private stopped = false;
  private needResync = false;
  private reported: boolean | undefined;
  private backoffMs = BACKOFF_MIN_MS;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: EtcdWatchDeps<K>,
    private readonly opts: WatchOptions<K>,
  ) {
    this.next = parseRevision(opts.fromRevision, 'fromRevision') + 1n;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.detach();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const gen = ++this.gen;
    try {
      if (this.needResync) await this.resync(gen);
      if (gen !== this.gen || this.stopped) return;
      const stream = await this.deps.conn.client.watchClient.watch();
      if (gen !== this.gen || this.stopped) return void cancelQuietly(stream);
      this.stream = stream;
      stream.on('data', (res) => gen === this.gen && this.onResponse(res));
      stream.on('error', (e) => gen === this.gen && this.broken(e));
      stream.on('end', () => gen === this.gen && this.broken(new Error('etcd ended the watch stream')));
      const key = this.deps.codec.kindPrefix(this.deps.kind);
      stream.write({
        create_request: { key, range_end: prefixEnd(key), start_revision: this.next.toString(), prev_kv: true, progress_notify: true },
      });
    } catch (e) {
      if (gen === this.gen) this.broken(e);
    }
  }

  private onResponse(res: IWatchResponse): void {
    if (BigInt(res.compact_revision || '0') > 0n) {
      // Our resume point is gone from etcd's history: relist, RESYNC, and watch on from there.
      log.info('watch resume point compacted; relisting', { kind: this.deps.kind, from: this.next.toString(), compacted: res.compact_revision });
      this.needResync = true;
      this.detach();
      void this.connect();
      return;
    }
    if (res.canceled) return this.broken(new Error(`etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`));
    if (res.created) {
      const current = BigInt(res.header.revision || '0');
      if (current + 1n < this.next) {
        // etcd's revision went backwards: it lost its data (or this is another etcd). A watch
        // from our old revision would wait, silently, until the new history caught up with it.
        log.error('the datastore\'s revision went backwards (its data was lost or replaced); relisting', { kind: this.deps.kind, expected: (this.next - 1n).toString(), current: current.toString() });
        this.needResync = true;
        this.detach();
        void this.connect();
        return;
      }
      this.backoffMs = BACKOFF_MIN_MS;
      this.status(true);
      return;
    }
    if (res.events.length === 0) {
      const progress = BigInt(res.header.revision || '0') + 1n;
      if (progress > this.next) this.next = progress;
      return;
    }
    for (const ev of res.events) {
      if (this.stopped) return;
      const out = this.toEvent(ev);
      const rev = BigInt(ev.kv.mod_revision);
      if (rev + 1n > this.next) this.next = rev + 1n;
      if (out) callSafely(`${this.deps.kind} watch`, () => this.opts.onEvent(out));
    }
  }

  private toEvent(ev: IEvent): WatchEvent<K> | undefined {
    const { kind, codec } = this.deps;
    const rev = ev.kv.mod_revision;
    try {
      if (ev.type === 'Put') {
        const object = decodeValue(kind, ev.kv.key, ev.kv.value, rev) as ResourceOf<K>;
        return { type: ev.kv.create_revision === rev ? 'ADDED' : 'MODIFIED', object, revision: rev };
      }
      const prev = ev.prev_kv as IEvent['prev_kv'] | null | undefined;
      if (prev && prev.value.length > 0) {
        return { type: 'DELETED', object: decodeValue(kind, ev.kv.key, prev.value, rev) as ResourceOf<K>, revision: rev };
      }
      // The previous value was compacted away before etcd could attach it: name the object.
      const { namespace, name } = parseKey(kind, codec.storeKey(kind, ev.kv.key));
      const skeleton = { apiVersion: API_VERSION[kind], kind, metadata: { name, namespace, resourceVersion: rev } } as unknown as AnyResource;
      return { type: 'DELETED', object: skeleton as ResourceOf<K>, revision: rev };
    } catch (e) {
      log.error('skipping an undecodable watch event', { kind, key: ev.kv.key.toString(), error: e });
      return undefined;
    }
  }

  private async resync(gen: number): Promise<void> {
    const { items, revision } = await this.deps.list();
    if (gen !== this.gen || this.stopped) return;
    this.needResync = false;
    this.next = BigInt(revision) + 1n;
    callSafely(`${this.deps.kind} watch`, () => this.opts.onEvent({ type: 'RESYNC', items, revision }));
  }

  private broken(e: unknown): void {
    if (this.stopped) return;
    this.deps.conn.streamFailed(e);
    this.detach();
    this.status(false, e);
    const wait = this.backoffMs * (0.8 + Math.random() * 0.4);
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.retry = setTimeout(() => void this.connect(), wait);
  }

  private detach(): void {
    this.gen++;
    if (this.stream) cancelQuietly(this.stream);
    this.stream = undefined;
  }

  private status(connected: boolean, error?: unknown): void {
    if (this.reported === connected) return;
    this.reported = connected;
    if (!connected) log.warn('watch disconnected; resuming', { kind: this.deps.kind, endpoint: this.deps.conn.endpoint, from: this.next.toString(), error });
    const onStatus = this.opts.onStatus;
    if (onStatus) callSafely('watch status', () => onStatus(connected ? { connected } : { connected, error }));
  }
}

function cancelQuietly(stream: WatchStream): void {
  stream.on('error', () => {}); // a cancelled call reports CANCELLED; nobody needs to hear it
  try {
    // Half-close first: etcd3 treats a CANCELLED on a still-writable stream as a broken host and
    // closes every channel of the client, failing unrelated calls in flight ("Channel closed
    // before call started"; seen over TLS, where the close lands while the next call starts).
    stream.end();
    stream.cancel();
  } catch {
    // why: already closed
  }
}
