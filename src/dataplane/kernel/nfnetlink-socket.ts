// The NETLINK_NETFILTER socket that sends nf_tables batches (encoded by nfnetlink.ts) and single
// requests, and matches the kernel's answers to them.
import nl from 'netlink';
import { constants } from 'node:os';
import { TwillError } from '../../util/errors.js';
import { NLMSG_ERROR, encodeGetElement, encodeGetTable, parseReplies, type NftBatch } from './nfnetlink.js';
import { inNetns } from './setns.js';

const NETLINK_NETFILTER = 12;

const errnoName = new Map(Object.entries(constants.errno).map(([k, v]) => [v, k]));

const HINT: Record<string, string> = {
  ENOENT: ' (a table, chain, set or element it names does not exist)',
  EEXIST: ' (it already exists)',
  EBUSY: ' (still referenced)',
  ELOOP: ' (a jump or goto would loop)',
  EINVAL: ' (the kernel does not accept the message as encoded)',
  EOPNOTSUPP: ' (this kernel lacks the feature)',
};

/** The kernel refused a batch: nothing of it was applied. */
export class NftBatchError extends TwillError {
  constructor(
    readonly errno: number,
    readonly refused: string,
  ) {
    super('KERNEL', `step "${refused}" failed with ${errnoName.get(errno) ?? `errno ${errno}`}${HINT[errnoName.get(errno) ?? ''] ?? ''}`);
  }
}

/**
 * A NETLINK_NETFILTER socket. `commit` sends one batch and resolves once the kernel has
 * committed it (the ack of its last message), or rejects with the first message it refused.
 * Batches are sent one at a time.
 */
export class NfTablesSocket {
  private seq = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private waiting: { replies: (msgs: { seq: number; type: number; error: number }[]) => void; error: (e: Error) => void } | undefined;
  private closed = false;

  private constructor(private readonly sock: InstanceType<typeof nl.RawNetlinkSocket>) {
    sock.unref();
    sock.on('message', (buf: Buffer) => this.waiting?.replies(parseReplies(buf)));
    sock.on('error', (e: Error) => this.waiting?.error(new TwillError('KERNEL', `nf_tables netlink socket: ${e.message}`, { cause: e })));
  }

  /** A socket in this process's network namespace, or in the one at `netnsPath` (undefined if it cannot be entered in-process). */
  static open(netnsPath?: string): NfTablesSocket | undefined {
    const make = (): NfTablesSocket => new NfTablesSocket(new nl.RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 1 << 20, sendBufferSize: 4 << 20 }));
    return netnsPath ? inNetns(netnsPath, make) : make();
  }

  close(): void {
    if (!this.closed) this.sock.close();
    this.closed = true;
  }

  commit(batch: NftBatch, timeoutMs = 5000): Promise<void> {
    const run = this.queue.then(() => this.send(batch, timeoutMs));
    // why: the queue only orders batches; this batch's failure reaches its caller through `run`
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Whether set `set` of `table` holds the element `key` now: one NFT_MSG_GETSETELEM for that
   * element (no dump), answered by the kernel from the set itself. A fraction of a millisecond,
   * where `nft -j list set` costs a process and a dump of the whole set (7–15 ms at 100–1,000
   * pods; 0.28 ms this way: bench/policy/confirm.ts). Ordered with the batches on this socket.
   */
  hasElement(family: number, table: string, set: string, key: Buffer, timeoutMs = 2000): Promise<boolean> {
    return this.ask((seq) => encodeGetElement(seq, family, table, set, key), `reading set ${set} of table ${table}`, timeoutMs);
  }

  /** Whether table `table` of `family` exists now (one NFT_MSG_GETTABLE; ordered with the batches). */
  hasTable(family: number, table: string, timeoutMs = 2000): Promise<boolean> {
    return this.ask((seq) => encodeGetTable(seq, family, table), `reading table ${table}`, timeoutMs);
  }

  /** One request: true when the kernel answers with the object, false on ENOENT. */
  private ask(encode: (seq: number) => Buffer, what: string, timeoutMs: number): Promise<boolean> {
    const run = this.queue.then(() => this.get(encode, what, timeoutMs));
    // why: the queue only orders requests; this one's failure reaches its caller through `run`
    this.queue = run.catch(() => undefined);
    return run;
  }

  private get(encode: (seq: number) => Buffer, what: string, timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.reject(new TwillError('INTERNAL', 'the nf_tables netlink socket is closed'));
    const seq = this.seq;
    this.seq = (seq + 1) >>> 0 || 1;
    const buf = encode(seq);
    return new Promise<boolean>((resolve, reject) => {
      let found = false;
      const finish = (e?: Error, v?: boolean): void => {
        clearTimeout(timer);
        this.waiting = undefined;
        this.sock.unref();
        if (e) reject(e);
        else resolve(v ?? found);
      };
      const timer = setTimeout(() => finish(new TwillError('KERNEL', `no answer from nf_tables within ${timeoutMs} ms ${what}`)), timeoutMs);
      this.waiting = {
        error: (e) => finish(e),
        replies: (replies) => {
          for (const r of replies) {
            if (r.seq !== seq) continue;
            if (r.type !== NLMSG_ERROR) found = true; // the object itself (NEWSETELEM, NEWTABLE), before the ack
            else if (r.error === 0) return finish(undefined, found);
            else if (-r.error === constants.errno.ENOENT) return finish(undefined, false);
            else return finish(new NftBatchError(-r.error, what));
          }
        },
      };
      this.sock.ref();
      this.sock.send(buf, {}, (err?: Error) => {
        if (err) finish(new TwillError('KERNEL', `cannot send the nf_tables request (${what}): ${err.message}`, { cause: err }));
      });
    });
  }

  private send(batch: NftBatch, timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.reject(new TwillError('INTERNAL', 'the nf_tables netlink socket is closed'));
    if (batch.size === 0) return Promise.resolve();
    const { buf, first, last } = batch.encode(this.seq);
    this.seq = (last + 1) >>> 0 || 1;
    return new Promise<void>((resolve, reject) => {
      let refused: NftBatchError | undefined;
      const finish = (e?: Error): void => {
        clearTimeout(timer);
        this.waiting = undefined;
        this.sock.unref();
        if (e) reject(e);
        else resolve();
      };
      const timer = setTimeout(
        () => finish(refused ?? new TwillError('KERNEL', `no answer from nf_tables within ${timeoutMs} ms; the state of table ${batch.table} is unknown`)),
        timeoutMs,
      );
      this.waiting = {
        error: (e) => finish(e),
        replies: (replies) => {
          for (const r of replies) {
            if (r.seq < first || r.seq > last || r.type !== NLMSG_ERROR) continue;
            if (r.error !== 0 && !refused) {
              const i = r.seq - first - 1;
              refused = new NftBatchError(-r.error, batch.messages[i]?.what ?? (i < 0 ? 'batch begin' : 'batch end'));
            }
            // The kernel delivers its answers in message order: the last message's answer (or an
            // answer about the batch as a whole) comes last.
            if (r.seq === last - 1 || r.seq === first || r.seq === last) return finish(refused);
          }
        },
      };
      this.sock.ref();
      this.sock.send(buf, {}, (err?: Error) => {
        if (err) finish(new TwillError('KERNEL', `cannot send the nf_tables batch for table ${batch.table}: ${err.message}`, { cause: err }));
      });
    });
  }
}
