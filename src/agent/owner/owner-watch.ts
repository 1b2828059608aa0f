// Watches the agent's own DaemonSet and its namespace for the whole life of the agent, so that on
// SIGTERM it knows whether it is being uninstalled or updated (verdict.ts). The watches are opened
// at start-up on purpose: `kubectl delete -f` removes the RBAC objects and the ServiceAccount too,
// maybe before the pod is told to stop, but a watch the API already authorized keeps delivering.
import type { Logger } from '../../util/log.js';
import { describeError } from '../../util/errors.js';
import { KubeApi, KubeStatusError, type KubeApiOptions } from './kube-api.js';
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

export class OwnerWatch {
  private readonly api: KubeApi;
  private readonly abort = new AbortController();
  private readonly obs: Observations = { daemonSet: 'unknown', namespace: 'unknown', everSynced: false };

  constructor(
    private readonly owner: OwnerRef,
    api: KubeApiOptions,
    private readonly log: Logger,
  ) {
    this.api = new KubeApi(api);
  }

  private paths(): { ds: string; ns: string } {
    const { namespace, daemonSet } = this.owner;
    return {
      ds: `/apis/apps/v1/namespaces/${namespace}/daemonsets?fieldSelector=${encodeURIComponent(`metadata.name=${daemonSet}`)}`,
      ns: `/api/v1/namespaces?fieldSelector=${encodeURIComponent(`metadata.name=${namespace}`)}`,
    };
  }

  /** Starts both watches (list, then watch from its resourceVersion; again after any break). */
  start(): void {
    const p = this.paths();
    void this.loop('daemonSet', p.ds);
    void this.loop('namespace', p.ns);
  }

  get observations(): Readonly<Observations> {
    return this.obs;
  }

  private async loop(which: 'daemonSet' | 'namespace', path: string): Promise<void> {
    let delay = 500;
    while (!this.abort.signal.aborted) {
      try {
        const list = await this.api.get<List>(path);
        this.set(which, stateOf(list.items?.[0]));
        this.obs.everSynced = true;
        delay = 500;
        const rv = list.metadata?.resourceVersion ?? '';
        await this.api.watch(`${path}&watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, (e) => {
          if (e.type === 'DELETED') this.set(which, 'gone');
          else if (e.type === 'ADDED' || e.type === 'MODIFIED') this.set(which, stateOf(e.object as Meta));
        }, this.abort.signal);
      } catch (e) {
        if (this.abort.signal.aborted) return;
        this.log.warn('watch of the agent\'s own objects broke; retrying', { object: which, error: describeError(e), retryMs: delay });
      }
      await new Promise((r) => setTimeout(r, delay).unref());
      delay = Math.min(delay * 2, 30_000);
    }
  }

  private set(which: 'daemonSet' | 'namespace', s: ObjectState): void {
    if (this.obs[which] !== s) this.log.info('owner object changed', { object: which, state: s });
    this.obs[which] = s;
  }

  /** At SIGTERM: what the watches saw, checked once more against the API. */
  async exitMode(timeoutMs = 3000): Promise<ExitMode> {
    this.abort.abort();
    if (exitMode(this.obs) === 'uninstall') return 'uninstall';
    const p = this.paths();
    try {
      const [ds, ns] = await Promise.all([this.api.get<List>(p.ds, timeoutMs), this.api.get<List>(p.ns, timeoutMs)]);
      this.obs.fresh = { daemonSet: stateOf(ds.items?.[0]), namespace: stateOf(ns.items?.[0]) };
    } catch (e) {
      this.obs.fresh = e instanceof KubeStatusError ? { status: e.status } : undefined;
    }
    return exitMode(this.obs);
  }

  stop(): void {
    this.abort.abort();
  }
}
