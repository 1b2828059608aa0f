// An etcd lease and its keeper: a keep-alive every TTL/3 on one bidirectional stream, reopened
// as needed. Lost when etcd answers TTL 0 (expired or revoked elsewhere) or when no keep-alive
// has been acknowledged for a whole TTL, measured from when the acknowledged one was sent (the
// server's clock started no earlier), so we never believe in a lease longer than etcd does.
import type { ILeaseKeepAliveResponse, IDuplexStream, ILeaseKeepAliveRequest } from 'etcd3';
import { isEtcd3Error } from './etcd3.js';
import { rootLogger } from '../../util/log.js';
import { LeaseLife, type LeaseEnd } from '../handles.js';
import type { Lease } from '../store.js';
import type { EtcdConnection } from './connection.js';

const log = rootLogger.child('datastore/etcd');

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

export class EtcdLease implements Lease {
  private readonly life: LeaseLife;
  private stream: KeepAliveStream | undefined;
  private opening = false;
  private gen = 0;
  private sentAt: number[] = [];
  private readonly ticker: NodeJS.Timeout;
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly conn: EtcdConnection,
    readonly id: string,
    readonly ttlSeconds: number,
    grantSentAt: number,
  ) {
    this.life = new LeaseLife(id);
    this.renewed(grantSentAt);
    this.ticker = setInterval(() => this.tick(), (ttlSeconds * 1000) / 3);
  }

  /** The lease id to write with; throws when this holder no longer has it. */
  idForWrite(): string {
    this.life.assertHeld();
    return this.id;
  }

  onLost(cb: () => void): void {
    this.life.onLost(cb);
  }

  async revoke(): Promise<void> {
    this.halt('revoked');
    try {
      await this.conn.client.leaseClient.leaseRevoke({ ID: this.id });
    } catch (e) {
      if (!isEtcd3Error(e, 'EtcdLeaseInvalidError')) throw this.conn.error(`revoking lease ${this.id}`, e);
    }
  }

  release(): void {
    this.halt('released');
  }

  /** etcd refused a write with this lease: it is gone. */
  markLost(): void {
    this.lose('etcd reports the lease gone');
  }

  private tick(): void {
    if (!this.life.alive) return;
    if (!this.stream) {
      this.open();
      return;
    }
    try {
      this.stream.write({ ID: this.id });
      this.sentAt.push(performance.now());
    } catch (e) {
      this.drop(e);
    }
  }

  private open(): void {
    if (this.opening) return;
    this.opening = true;
    const gen = ++this.gen;
    this.conn.client.leaseClient.leaseKeepAlive().then(
      (stream) => {
        this.opening = false;
        if (gen !== this.gen || !this.life.alive) return void endQuietly(stream);
        this.stream = stream;
        this.sentAt = [];
        stream.on('data', (res) => gen === this.gen && this.onAck(res));
        stream.on('error', (e) => gen === this.gen && this.drop(e));
        stream.on('end', () => gen === this.gen && this.drop(new Error('keep-alive stream ended')));
        this.tick();
      },
      (e: unknown) => {
        this.opening = false;
        if (gen === this.gen) this.drop(e);
      },
    );
  }

  private onAck(res: ILeaseKeepAliveResponse): void {
    const sent = this.sentAt.shift() ?? performance.now();
    if (Number(res.TTL) <= 0) return this.lose('etcd says it expired');
    this.renewed(sent);
  }

  private drop(e: unknown): void {
    this.conn.streamFailed(e);
    if (this.stream) endQuietly(this.stream);
    this.stream = undefined;
    this.sentAt = [];
    this.gen++;
    if (this.life.alive) log.debug('lease keep-alive interrupted; retrying', { lease: this.id, error: e });
  }

  /** `sentAt` is monotonic (performance.now()): a wall-clock step must not lose or keep the lease. */
  private renewed(sentAt: number): void {
    if (this.deadline) clearTimeout(this.deadline);
    const left = sentAt + this.ttlSeconds * 1000 - performance.now();
    this.deadline = setTimeout(() => this.lose(`no keep-alive acknowledged for ${this.ttlSeconds} s`), Math.max(0, left));
  }

  private lose(why: string): void {
    if (!this.life.alive) return;
    log.warn('lease lost', { lease: this.id, endpoint: this.conn.endpoint, why });
    this.halt('lost');
    this.life.fireLost();
  }

  private halt(state: LeaseEnd): void {
    this.life.end(state);
    clearInterval(this.ticker);
    if (this.deadline) clearTimeout(this.deadline);
    this.gen++;
    if (this.stream) endQuietly(this.stream);
    this.stream = undefined;
  }
}

function endQuietly(stream: KeepAliveStream): void {
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
