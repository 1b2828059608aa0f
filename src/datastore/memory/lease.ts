// The client side of a memory lease: keep-alive every TTL/3 on the backend's clock, and "lost"
// under the same rule as etcd's keeper (gone on the backend, or no renewal for a whole TTL).
import { LeaseLife, type LeaseEnd } from '../handles.js';
import type { Lease } from '../store.js';
import type { MemoryBackend } from './backend.js';

export class MemoryLease implements Lease {
  private readonly life: LeaseLife;
  private cancelTick = (): void => {};
  private cancelDeadline = (): void => {};

  constructor(
    private readonly backend: MemoryBackend,
    readonly id: string,
    readonly ttlSeconds: number,
  ) {
    this.life = new LeaseLife(id);
    this.renewed();
    this.arm();
  }

  /** The lease id to write with; throws when this holder no longer has it. */
  idForWrite(): string {
    if (this.life.alive && !this.backend.hasLease(this.id)) this.lose();
    this.life.assertHeld();
    return this.id;
  }

  onLost(cb: () => void): void {
    this.life.onLost(cb);
  }

  async revoke(): Promise<void> {
    this.halt('revoked');
    this.backend.revokeLease(this.id);
  }

  release(): void {
    this.halt('released');
  }

  private arm(): void {
    this.cancelTick = this.backend.clock.setTimer(() => this.tick(), (this.ttlSeconds * 1000) / 3);
  }

  private tick(): void {
    if (!this.life.alive) return;
    try {
      if (!this.backend.keepAlive(this.id)) return this.lose();
      this.renewed();
    } catch {
      // why: backend down: the deadline decides
    }
    this.arm();
  }

  /** A whole TTL without a renewal and others may already have seen the lease expire. */
  private renewed(): void {
    this.cancelDeadline();
    this.cancelDeadline = this.backend.clock.setTimer(() => this.lose(), this.ttlSeconds * 1000);
  }

  private lose(): void {
    if (!this.life.alive) return;
    this.halt('lost');
    this.life.fireLost();
  }

  private halt(state: LeaseEnd): void {
    this.life.end(state);
    this.cancelTick();
    this.cancelDeadline();
  }
}
