// A memory watch pulls from the backend's history: after every commit it delivers what came after
// the last revision it delivered, so a watch that was cut off resumes exactly where it stopped.
import type { Kind, ResourceOf } from '../../model/types.js';
import { callSafely } from '../callbacks.js';
import { parseRevision } from '../keys.js';
import type { Watch, WatchEvent, WatchOptions } from '../store.js';
import type { BackendListener, MemoryBackend } from './backend.js';

export class MemoryWatch<K extends Kind> implements Watch, BackendListener {
  private last: bigint;
  private state: 'new' | 'up' | 'down' = 'new';
  private scheduled = false;
  private stopped = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly backend: MemoryBackend,
    private readonly kind: K,
    private readonly opts: WatchOptions<K>,
  ) {
    this.last = parseRevision(opts.fromRevision, 'fromRevision');
    this.unsubscribe = backend.subscribe(this);
    this.schedule();
  }

  onCommit(): void {
    this.schedule();
  }
  onDown(): void {
    // Reported at once: the outage may be over before the next delivery runs.
    if (!this.stopped && this.state === 'up') this.status(false, 'memory datastore is down');
  }
  onUp(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
  }

  // Delivery is asynchronous, as from a real server: a handler that writes to the store never
  // re-enters its own watch.
  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.stopped) return;
    if (!this.backend.isUp) {
      if (this.state !== 'down') this.status(false, 'memory datastore is down');
      return;
    }
    if (this.state !== 'up') this.status(true);
    const evs = this.backend.eventsAfter(this.kind, this.last);
    if (evs === 'compacted') {
      const { items, revision } = this.backend.list(this.kind);
      this.last = revision;
      this.emit({ type: 'RESYNC', items: items as ResourceOf<K>[], revision: revision.toString() });
      return;
    }
    for (const ev of evs) {
      if (this.stopped) return;
      this.last = ev.rev;
      this.emit({ type: ev.type, object: structuredClone(ev.object) as ResourceOf<K>, revision: ev.rev.toString() });
    }
  }

  private status(connected: boolean, error?: string): void {
    this.state = connected ? 'up' : 'down';
    const onStatus = this.opts.onStatus;
    if (onStatus) callSafely('watch status', () => onStatus(connected ? { connected } : { connected, error: new Error(error) }));
  }

  private emit(ev: WatchEvent<K>): void {
    callSafely(`${this.kind} watch`, () => this.opts.onEvent(ev));
  }
}
