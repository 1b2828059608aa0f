// The agent's flow recorder: conntrack events and NFLOG packets from this node's namespace,
// resolved against the policy controller's current index, kept in a bounded ring. Nothing here
// sees a packet the kernel did not hand over: the data path never waits for Node.js.
import { ConntrackEvents, type CtEvent } from '../dataplane/kernel/conntrack.js';
import { installCtEvents, readUnansweredLimited } from './ct-events.js';
import { NflogSocket, type NflogPacket } from '../dataplane/kernel/nflog.js';
import { describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { matchesFilter, type FlowFilter } from './filter.js';
import { isUnanswered } from './format.js';
import { partsFromConntrack, partsFromNflog, type FlowContext, type FlowParts, type FlowRecord } from './record.js';
import { FlowRing } from './ring.js';

export const DEFAULT_RING_SIZE = 16_384;
export const DEFAULT_LOG_GROUP = 100;
export { undoCtEvents } from './ct-events.js';

export interface FlowRecorderOptions {
  node: string;
  ringSize: number;
  group: number;
  /** Where the twill-flows table's script is kept (ct-events.ts). */
  runDir: string;
  context: () => FlowContext;
  log: Logger;
}

export interface LostCounts {
  /** NFLOG packets the kernel could not deliver (sequence gaps). */
  nflog: number;
  /** Receive-buffer overflows (ENOBUFS) on the NFLOG and conntrack sockets: each lost one or more events. */
  nflogOverflows: number;
  conntrackOverflows: number;
  /** Records overwritten in the ring. */
  ringOverwritten: number;
}

export interface FlowStats {
  node: string;
  ringSize: number;
  stored: number;
  lastId: number;
  /**
   * Of the new records, `reused`: those made from a SYN that reused an answered conntrack entry (no
   * start event; ct-events.ts); `unanswered`: those of TCP attempts with no reply yet (a SYN sent
   * again on an unanswered entry; an attempt answered later has its ordinary new record as well).
   */
  recorded: { new: number; end: number; drop: number; reused: number; unanswered: number };
  lost: LostCounts;
}

/** GET /v1/flows/status: stats, and what the kernel counted (FlowRecorder.status). */
export type FlowStatus = FlowStats & { unansweredLimited?: number };

/** What a listener (the metrics) learns of each record as it is made: no whole record is built for it. */
export type RecordEvent = Pick<FlowRecord, 'event' | 'verdict' | 'drop_reason' | 'traffic_direction' | 'policies'> & { unanswered?: true };
export type RecordListener = (r: RecordEvent) => void;

export class FlowRecorder {
  readonly ring: FlowRing;
  private ct: ConntrackEvents | undefined;
  private nflog: NflogSocket | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly listeners: RecordListener[] = [];
  private readonly recorded = { new: 0, end: 0, drop: 0, reused: 0, unanswered: 0 };
  /**
   * The last logged SYN's sequence number per kind ("R", "U") and 4-tuple of reused or unanswered
   * entries: retransmissions of a SYN make no second record.
   */
  private readonly loggedSyns = new Map<string, number>();

  constructor(private readonly o: FlowRecorderOptions) {
    this.ring = new FlowRing(o.ringSize);
  }

  /** Opens the kernel sources; one that cannot be opened is logged, and the agent runs on without it. */
  async start(): Promise<void> {
    try {
      await installCtEvents(this.o.runDir, this.o.group);
    } catch (e) {
      this.o.log.warn('cannot limit conntrack events to pod connections: the kernel reports every connection of the node, and the agent drops the others (more work per connection)', { error: describeError(e) });
    }
    try {
      let lastErrno = 0;
      this.ct = await ConntrackEvents.open((evs) => this.onConntrack(evs), {
        onReadError: (errno) => {
          if (errno !== lastErrno) this.o.log.error('reading conntrack events failed; retrying every turn', { errno });
          lastErrno = errno;
        },
      });
      if (this.ct.mode !== 'poll') this.o.log.warn('conntrack events are read one callback per event (more work per connection)', { mode: this.ct.mode });
    } catch (e) {
      this.o.log.error('cannot listen to conntrack events: connections will not be recorded', { error: describeError(e) });
    }
    try {
      this.nflog = await NflogSocket.open(this.o.group, (pkts) => this.onNflog(pkts));
    } catch (e) {
      this.o.log.error('cannot bind the NFLOG group: drops will not be recorded', { group: this.o.group, error: describeError(e) });
    }
  }

  stop(): void {
    this.ct?.close();
    this.nflog?.close();
    this.ct = this.nflog = undefined;
    for (const w of this.waiters) w();
  }

  onRecord(l: RecordListener): void {
    this.listeners.push(l);
  }

  private add(p: FlowParts | undefined): void {
    if (!p) return;
    this.ring.push(p);
    this.recorded[p.event]++;
    if (this.listeners.length === 0) return;
    const ev: RecordEvent = { event: p.event, verdict: p.verdict, traffic_direction: p.traffic_direction, policies: p.identity.policies };
    if (p.drop_reason) ev.drop_reason = p.drop_reason;
    if (p.event === 'new' && isUnanswered(p)) ev.unanswered = true;
    for (const l of this.listeners) l(ev);
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  onConntrack(evs: CtEvent[]): void {
    const ctx = this.o.context();
    const now = Date.now();
    for (const ev of evs) this.add(partsFromConntrack(ctx, ev, now));
    this.wake();
  }

  onNflog(pkts: NflogPacket[]): void {
    const ctx = this.o.context();
    const now = Date.now();
    for (const p of pkts) {
      const syn = p.prefix.startsWith('twill R ') ? 'R' : p.prefix.startsWith('twill U ') ? 'U' : undefined;
      if (syn && this.retransmitted(syn, p)) continue;
      const parts = partsFromNflog(ctx, p, now);
      if (parts?.event === 'new') this.recorded[syn === 'U' ? 'unanswered' : 'reused']++;
      this.add(parts);
    }
    this.wake();
  }

  /** A logged SYN with the same sequence number as the last one of its kind logged for its 4-tuple. */
  private retransmitted(kind: 'R' | 'U', p: NflogPacket): boolean {
    const h = p.headers;
    if (h?.tcpSeq === undefined) return false;
    const key = `${kind} ${h.src} ${h.srcPort} ${h.dst} ${h.dstPort}`;
    if (this.loggedSyns.get(key) === h.tcpSeq) return true;
    if (this.loggedSyns.size >= 4096) this.loggedSyns.clear();
    this.loggedSyns.set(key, h.tcpSeq);
    return false;
  }

  lost(): LostCounts {
    return {
      nflog: this.nflog?.lost ?? 0,
      nflogOverflows: this.nflog?.overflows ?? 0,
      conntrackOverflows: this.ct?.overflows ?? 0,
      ringOverwritten: this.ring.overwritten,
    };
  }

  stats(): FlowStats {
    return { node: this.o.node, ringSize: this.ring.size, stored: this.ring.length, lastId: this.ring.lastId, recorded: { ...this.recorded }, lost: this.lost() };
  }

  /** SYNs on unanswered entries the twill-flows table's rate limit kept from the log; undefined without the table. */
  unansweredLimited(): Promise<number | undefined> {
    return readUnansweredLimited();
  }

  /**
   * stats(), with what the kernel counted: `unansweredLimited`, SYNs on unanswered entries the
   * twill-flows table's rate limit kept from the log (ct-events.ts; absent when it cannot be read).
   */
  async status(): Promise<FlowStatus> {
    const s = this.stats();
    try {
      const n = await this.unansweredLimited();
      return n === undefined ? s : { ...s, unansweredLimited: n };
    } catch {
      // why: a read-only status: without nft the count is simply absent
      return s;
    }
  }

  /**
   * Records after cursor `after` matching `filter` (the last `last` of them when given), waiting
   * up to `waitMs` for a first one. `missed`: records after the cursor already overwritten.
   */
  async query(q: { after?: number; last?: number; filter?: FlowFilter; waitMs?: number }): Promise<{ node: string; records: FlowRecord[]; missed: number; cursor: number; lost: LostCounts }> {
    let cur = q.after ?? 0;
    let missedTotal = 0;
    const deadline = Date.now() + Math.min(q.waitMs ?? 0, 30_000);
    for (;;) {
      const { records, missed } = this.ring.since(cur);
      missedTotal += missed;
      cur = this.ring.lastId;
      let out = q.filter ? records.filter((r) => matchesFilter(q.filter!, r)) : records;
      if (q.last !== undefined) out = q.last === 0 ? [] : out.slice(-q.last);
      const left = deadline - Date.now();
      if (out.length > 0 || left <= 0 || (!this.ct && !this.nflog)) return { node: this.o.node, records: out, missed: missedTotal, cursor: cur, lost: this.lost() };
      // Nothing (matching) yet: wait for new records or the deadline, then read on from the cursor.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }
}
