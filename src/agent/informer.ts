// A cached, watched view of one kind in the datastore (client-go's informer idea, small): list,
// then watch from the list's revision; RESYNC replaces the cache. `synced` says whether a
// complete list has been read, so callers never act on a partial picture.
import type { Store, Watch } from '../datastore/store.js';
import { objectKey, type Kind, type ResourceOf } from '../model/types.js';
import { TwillError } from '../util/errors.js';

export class Informer<K extends Kind> {
  readonly items = new Map<string, ResourceOf<K>>();
  synced = false;
  /** Times the watch had to start over from a fresh list (RESYNC: compaction or a broken watch). */
  resyncs = 0;
  private watch: Watch | undefined;

  constructor(
    private readonly store: Store,
    private readonly kind: K,
    /** `key`: the object that changed; absent when the whole cache was (re)listed. */
    private readonly onChange: (what: string, key?: string) => void,
    /**
     * The first list may come from the datastore's cache (Store.list's `fromCache`): faster, and
     * perhaps older than the latest write; the watch from its revision brings the rest. Only for
     * caches whose first picture need not include this agent's own writes of a moment ago.
     */
    private readonly opts: { listFromCache?: boolean } = {},
  ) {}

  async start(): Promise<void> {
    const { items, revision } = await this.store.list(this.kind, { fromCache: this.opts.listFromCache });
    this.replace(items);
    this.synced = true;
    this.watch = this.store.watch(this.kind, {
      fromRevision: revision,
      onEvent: (ev) => {
        if (ev.type === 'RESYNC') {
          this.resyncs++;
          this.replace(ev.items);
        }
        else if (ev.type === 'DELETED') this.items.delete(objectKey(ev.object));
        else this.items.set(objectKey(ev.object), ev.object);
        if (ev.type === 'RESYNC') this.onChange(`${this.kind} resync`);
        else this.onChange(`${this.kind} ${objectKey(ev.object)} ${ev.type.toLowerCase()}`, objectKey(ev.object));
      },
    });
    this.onChange(`${this.kind} list`);
  }

  private replace(items: ResourceOf<K>[]): void {
    this.items.clear();
    for (const o of items) this.items.set(objectKey(o), o);
  }

  /**
   * Resolves once the cache holds what the store holds at the time of the call (same keys, same
   * resourceVersions): whoever just wrote to the store then knows this informer has seen it.
   */
  async caughtUp(deadline: number): Promise<void> {
    const want = new Map((await this.store.list(this.kind)).items.map((o) => [objectKey(o), o.metadata.resourceVersion]));
    const same = () => this.items.size === want.size && [...want].every(([k, rv]) => this.items.get(k)?.metadata.resourceVersion === rv);
    while (!same()) {
      if (Date.now() > deadline) throw new TwillError('TIMEOUT', `the ${this.kind} cache has not caught up with the datastore (watch lagging or broken)`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  list(): ResourceOf<K>[] {
    return [...this.items.values()];
  }

  stop(): void {
    this.watch?.stop();
  }
}
