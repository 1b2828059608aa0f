// One watch of one kind: GET ?watch=1 from the last revision seen (events and bookmarks advance
// it), so a dropped connection resumes without loss; "410 Gone" (the revision left the server's
// history) relists and hands the caller a RESYNC; failures back off with jitter so a thousand
// agents that lost the apiserver together do not return together.
import type { IncomingMessage } from 'node:http';
import { describeError } from '../../util/errors.js';
import { rootLogger } from '../../util/log.js';
import { callSafely } from '../callbacks.js';
import { apiError, splitLines, type ApiStatus, type KubeClient } from './client.js';

const log = rootLogger.child('datastore/kubernetes');
const MIN_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 10_000;

type Obj = Record<string, unknown>;

export interface KubeWatchDeps<T> {
  client: KubeClient;
  /** The collection path (`/api/v1/pods`). */
  path: string;
  /** "watching pods", for messages. */
  what: string;
  decode: (o: Obj) => T;
  /** A full list, for RESYNC after 410 Gone. */
  list: () => Promise<{ items: T[]; revision: string }>;
  labelSelector?: string;
}

export type KubeWatchEvent<T> = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: T; revision: string } | { type: 'RESYNC'; items: T[]; revision: string };

export interface KubeWatchOptions<T> {
  fromRevision: string;
  onEvent: (ev: KubeWatchEvent<T>) => void;
  onStatus?: ((s: { connected: boolean; error?: unknown }) => void) | undefined;
}

export class KubeWatch<T> {
  private rv: string;
  private stopped = false;
  private reported: boolean | undefined;
  private res: IncomingMessage | undefined;
  private backoff = MIN_BACKOFF_MS;
  private wake: (() => void) | undefined;

  constructor(
    private readonly d: KubeWatchDeps<T>,
    private readonly opts: KubeWatchOptions<T>,
  ) {
    this.rv = opts.fromRevision;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.res?.destroy();
    this.wake?.();
  }

  /** Reports a change of connection state (the first report may be either). */
  private status(connected: boolean, error?: unknown): void {
    if (this.reported === connected) return;
    this.reported = connected;
    callSafely('watch status', () => this.opts.onStatus?.(error === undefined ? { connected } : { connected, error }));
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      t.unref();
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
    this.wake = undefined;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let outcome: 'ended' | 'gone' | 'failed';
      let error: unknown;
      try {
        outcome = await this.once();
      } catch (e) {
        outcome = 'failed';
        error = e;
      }
      if (this.stopped) break;
      if (outcome === 'gone') {
        try {
          await this.relist();
          continue;
        } catch (e) {
          outcome = 'failed';
          error = e;
        }
      }
      if (outcome === 'ended') {
        this.backoff = MIN_BACKOFF_MS;
        continue;
      }
      if (this.reported) log.debug('watch lost; reconnecting', { what: this.d.what, error: describeError(error) });
      this.status(false, error ?? new Error('watch failed'));
      await this.sleep(this.backoff * (0.5 + Math.random()));
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    }
  }

  private async relist(): Promise<void> {
    const { items, revision } = await this.d.list();
    this.rv = revision;
    callSafely('watch event', () => this.opts.onEvent({ type: 'RESYNC', items, revision }));
  }

  /** One watch request until its stream ends. */
  private async once(): Promise<'ended' | 'gone' | 'failed'> {
    const q = new URLSearchParams({ watch: '1', resourceVersion: this.rv, allowWatchBookmarks: 'true', timeoutSeconds: String(300 + Math.floor(Math.random() * 300)) });
    if (this.d.labelSelector) q.set('labelSelector', this.d.labelSelector);
    const what = this.d.what;
    const res = await this.d.client.open(`${this.d.path}?${q}`, { what, timeoutMs: 15_000 });
    this.res = res;
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      let st: ApiStatus | undefined;
      try {
        st = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ApiStatus;
      } catch {
        // why: a status body that is not JSON: the status code decides
        st = undefined;
      }
      if (res.statusCode === 410) return 'gone';
      throw apiError(res.statusCode ?? 0, st, what, this.d.client.server);
    }
    this.status(true);
    const state: { result: 'ended' | 'gone' | 'failed'; error?: unknown } = { result: 'ended' };
    const stop = (result: 'gone' | 'failed', error?: unknown): void => {
      Object.assign(state, { result, error });
      res.destroy();
    };
    // A stream cut off mid-way (server or network gone) counts as ended: we resume at once, and a
    // reconnect that fails is what reports the outage.
    // why: a stream cut off mid-way counts as ended (see above); the reconnect reports an outage
    await splitLines(res, (line) => {
      if (state.result !== 'ended') return;
      let ev: { type?: string; object?: Obj };
      try {
        ev = JSON.parse(line) as typeof ev;
      } catch (e) {
        stop('failed', e);
        return;
      }
      const r = this.onLine(ev);
      if (r !== undefined) stop(r.gone ? 'gone' : 'failed', r.error);
    }, undefined, this.d.client.traffic).catch(() => undefined);
    this.res = undefined;
    if (state.result === 'failed') throw state.error ?? new Error('watch stream failed');
    return state.result;
  }

  /** Handles one event; returns a reason to stop this stream, or undefined to read on. */
  private onLine(ev: { type?: string; object?: Obj }): { gone: boolean; error?: unknown } | undefined {
    const obj = ev.object ?? {};
    const rv = (obj['metadata'] as Obj | undefined)?.['resourceVersion'];
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED': {
        if (typeof rv !== 'string') return { gone: false, error: new Error(`watch event without resourceVersion`) };
        this.rv = rv;
        this.backoff = MIN_BACKOFF_MS;
        let object: T;
        try {
          object = this.d.decode(obj);
        } catch (e) {
          log.error('skipping an undecodable watch event', { what: this.d.what, error: describeError(e) });
          return undefined;
        }
        callSafely('watch event', () => this.opts.onEvent({ type: ev.type as 'ADDED', object, revision: rv }));
        return undefined;
      }
      case 'BOOKMARK':
        if (typeof rv === 'string') this.rv = rv;
        return undefined;
      case 'ERROR': {
        const st = obj as ApiStatus;
        if (st.code === 410 || st.reason === 'Expired' || st.reason === 'Gone') return { gone: true };
        return { gone: false, error: apiError(st.code ?? 500, st, this.d.what, this.d.client.server) };
      }
      default:
        return { gone: false, error: new Error(`unknown watch event type ${JSON.stringify(ev.type)}`) };
    }
  }
}
