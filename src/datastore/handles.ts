// What every Store hands its callers, kept identical across implementations: watches the store
// tracks so `close()` can stop them, and a lease holder's life (alive until lost, revoked or
// released; loss callbacks fire once; a write with a lease no longer held gets the same error).
import { TwillError } from '../util/errors.js';
import { Once } from './callbacks.js';
import type { Watch } from './store.js';

/** A Watch whose `stop` also forgets it in `live` (what the store stops on close). */
export function trackedWatch(live: Set<Watch>, stop: () => void): Watch {
  const handle: Watch = {
    stop: () => {
      live.delete(handle);
      stop();
    },
  };
  live.add(handle);
  return handle;
}

export type LeaseEnd = 'lost' | 'revoked' | 'released';

export class LeaseLife {
  private state: 'alive' | LeaseEnd = 'alive';
  private readonly lost = new Once('lease lost');

  constructor(private readonly id: string) {}

  get alive(): boolean {
    return this.state === 'alive';
  }

  /** Throws when the holder no longer has the lease. */
  assertHeld(): void {
    if (this.state !== 'alive') throw new TwillError('DATASTORE', `lease ${this.id} is no longer held (${this.state}); grant a new lease`);
  }

  onLost(cb: () => void): void {
    this.lost.add(cb);
  }

  /** Records how the lease ended; the first end wins. */
  end(state: LeaseEnd): void {
    if (this.state === 'alive') this.state = state;
  }

  /** Runs the loss callbacks (once). */
  fireLost(): void {
    this.lost.fire();
  }
}
