// A cached, watched view of one kind in the datastore (client-go's informer idea, small): list,
// then watch from the list's revision; RESYNC replaces the cache. `synced` says whether a
// complete list has been read, so callers never act on a partial picture.
import type { Store, Watch } from '../datastore/store.js';
import { objectKey, type Kind, type ResourceOf } from '../model/types.js';

export class Informer<K extends Kind> {
  readonly items = new Map<string, ResourceOf<K>>();
  synced = false;
  private watch: Watch | undefined;

  constructor(
    private readonly store: Store,
    private readonly kind: K,
    private readonly onChange: (what: string) => void,
  ) {}

  async start(): Promise<void> {
    const { items, revision } = await this.store.list(this.kind);
    this.replace(items);
    this.synced = true;
    this.watch = this.store.watch(this.kind, {
      fromRevision: revision,
      onEvent: (ev) => {
        if (ev.type === 'RESYNC') this.replace(ev.items);
        else if (ev.type === 'DELETED') this.items.delete(objectKey(ev.object));
        else this.items.set(objectKey(ev.object), ev.object);
        this.onChange(ev.type === 'RESYNC' ? `${this.kind} resync` : `${this.kind} ${objectKey(ev.object)} ${ev.type.toLowerCase()}`);
      },
    });
    this.onChange(`${this.kind} list`);
  }

  private replace(items: ResourceOf<K>[]): void {
    this.items.clear();
    for (const o of items) this.items.set(objectKey(o), o);
  }

  list(): ResourceOf<K>[] {
    return [...this.items.values()];
  }

  stop(): void {
    this.watch?.stop();
  }
}
