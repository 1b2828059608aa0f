// Watches the agent's own DaemonSet and its namespace for the whole life of the agent, so that on
// SIGTERM it knows whether it is being uninstalled or updated (verdict.ts). The watches are opened
// at start-up on purpose: `kubectl delete -f` removes the RBAC objects and the ServiceAccount too,
// maybe before the pod is told to stop, but a watch the API already authorized keeps delivering.
import { ApiError, KubeClient, type ClusterAccess } from '../../datastore/kubernetes/index.js';
import { splitLines } from '../../datastore/kubernetes/client.js';
import type { Logger } from '../../util/log.js';
import { describeError } from '../../util/errors.js';
import { exitMode, type ExitMode, type ObjectState, type Observations } from './verdict.js';

interface Meta {
  metadata?: { resourceVersion?: string; deletionTimestamp?: string };
}
interface List {
  metadata?: { resourceVersion?: string };
  items?: Meta[];
}

const stateOf = (o: Meta | undefined): ObjectState => (o === undefined ? 'gone' : o.metadata?.deletionTimestamp ? 'deleting' : 'present');

export interface OwnerRef {
  namespace: string;
  daemonSet: string;
}

type Which = 'daemonSet' | 'namespace';

export class OwnerWatch {
  private readonly client: KubeClient;
  private readonly abort = new AbortController();
  private readonly obs: Observations = { daemonSet: 'unknown', namespace: 'unknown', everSynced: false };

  constructor(
    private readonly owner: OwnerRef,
    access: ClusterAccess,
    private readonly log: Logger,
  ) {
    this.client = new KubeClient(access);
  }

  private path(which: Which): string {
    const { namespace, daemonSet } = this.owner;
    // By name, so the Role can name its one DaemonSet (resourceNames) instead of all of them.
    return which === 'daemonSet'
      ? `/apis/apps/v1/namespaces/${namespace}/daemonsets?fieldSelector=${encodeURIComponent(`metadata.name=${daemonSet}`)}`
      : `/api/v1/namespaces?fieldSelector=${encodeURIComponent(`metadata.name=${namespace}`)}`;
  }

  /** Starts both watches (list, then watch from its resourceVersion; again after any break). */
  start(): void {
    void this.loop('daemonSet');
    void this.loop('namespace');
  }

  get observations(): Readonly<Observations> {
    return this.obs;
  }

  private async loop(which: Which): Promise<void> {
    let delay = 500;
    while (!this.abort.signal.aborted) {
      try {
        const list = await this.client.request<List>(this.path(which), { what: `reading the agent's ${which}`, timeoutMs: 10_000 });
        this.set(which, stateOf(list.items?.[0]));
        this.obs.everSynced = true;
        delay = 500;
        const rv = list.metadata?.resourceVersion ?? '';
        const res = await this.client.open(`${this.path(which)}&watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, { what: `watching the agent's ${which}` });
        if (res.statusCode !== 200) {
          res.resume();
          throw new Error(`kube-apiserver answered ${res.statusCode} to the watch`);
        }
        const stop = () => res.destroy();
        this.abort.signal.addEventListener('abort', stop, { once: true });
        await splitLines(res, (line) => {
          const e = JSON.parse(line) as { type: string; object: Meta };
          if (e.type === 'DELETED') this.set(which, 'gone');
          else if (e.type === 'ADDED' || e.type === 'MODIFIED') this.set(which, stateOf(e.object));
        }).finally(() => this.abort.signal.removeEventListener('abort', stop));
      } catch (e) {
        if (this.abort.signal.aborted) return;
        this.log.warn('watch of the agent\'s own objects broke; retrying', { object: which, error: describeError(e), retryMs: delay });
      }
      if (this.abort.signal.aborted) return;
      await new Promise((r) => setTimeout(r, delay).unref());
      delay = Math.min(delay * 2, 30_000);
    }
  }

  private set(which: Which, s: ObjectState): void {
    if (this.obs[which] !== s) this.log.info('owner object changed', { object: which, state: s });
    this.obs[which] = s;
  }

  /** At SIGTERM: what the watches saw, checked once more against the API. Ends the watches. */
  async exitMode(timeoutMs = 3000): Promise<ExitMode> {
    this.abort.abort();
    if (exitMode(this.obs) !== 'uninstall') {
      try {
        const get = (w: Which) => this.client.request<List>(this.path(w), { what: `reading the agent's ${w}`, timeoutMs });
        const [ds, ns] = await Promise.all([get('daemonSet'), get('namespace')]);
        this.obs.fresh = { daemonSet: stateOf(ds.items?.[0]), namespace: stateOf(ns.items?.[0]) };
      } catch (e) {
        this.obs.fresh = e instanceof ApiError ? { status: e.httpStatus } : undefined;
      }
    }
    this.client.close();
    return exitMode(this.obs);
  }

  stop(): void {
    this.abort.abort();
    this.client.close();
  }
}
