// Conntrack events over netlink (NETLINK_NETFILTER, subsystem CTNETLINK): one message when a
// connection is confirmed (NFNLGRP_CONNTRACK_NEW) or, for an entry whose event mask asks for its
// first reply instead (flow records' TCP entries, flows/ct-events.ts), when that reply passes (an
// update: NFNLGRP_CONNTRACK_UPDATE, decoded as 'new' too), and one when it ends
// (NFNLGRP_CONNTRACK_DESTROY), the latter with packet and byte counts when
// net.netfilter.nf_conntrack_acct is on. Conntrack
// events carry no sequence number: a receive-buffer overflow (ENOBUFS) is counted, and an end
// whose start was never seen still yields a whole record. `decodeConntrack` is pure.
// (include/uapi/linux/netfilter/nfnetlink_conntrack.h)
import nl from 'netlink';
import { ensureSysctl } from './sysctl.js';
import { attrValueLength, be32At, be64At, findAttr, ipText } from './nlattr.js';
import { EAGAIN, ENOBUFS, PolledNetlinkSocket, polledNetlinkSupport } from './nl-poll.js';

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_CTNETLINK = 1;
const MSG_NEW = (NFNL_SUBSYS_CTNETLINK << 8) | 0;
const MSG_DELETE = (NFNL_SUBSYS_CTNETLINK << 8) | 2;
export const NFNLGRP_CONNTRACK_NEW = 1;
/** Other changes; with flow records, a TCP connection's first reply (ct-events.ts). */
export const NFNLGRP_CONNTRACK_UPDATE = 2;
export const NFNLGRP_CONNTRACK_DESTROY = 3;
const CTA = { TUPLE_ORIG: 1, TUPLE_REPLY: 2, STATUS: 3, COUNTERS_ORIG: 9, COUNTERS_REPLY: 10, ID: 12, TIMESTAMP: 20 } as const;
const TUPLE = { IP: 1, PROTO: 2 } as const;
const IP = { V4_SRC: 1, V4_DST: 2, V6_SRC: 3, V6_DST: 4 } as const;
const PROTO = { NUM: 1, SRC_PORT: 2, DST_PORT: 3, ICMP_TYPE: 5, ICMP_CODE: 6, ICMPV6_TYPE: 8, ICMPV6_CODE: 9 } as const;
/** IPS_SRC_NAT | IPS_DST_NAT: the connection was translated. */
const IPS_NAT_MASK = 0x10 | 0x20;

export interface CtTuple {
  family: 4 | 6;
  src: string;
  dst: string;
  proto: number;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
}

export interface CtCounters {
  packets: number;
  bytes: number;
}

export interface CtEvent {
  /** new: confirmed, or (an update message) its first reply; destroy: ended. */
  type: 'new' | 'destroy';
  /** The kernel's id of the connection (unique while it lives). */
  id?: number;
  orig: CtTuple;
  reply?: CtTuple;
  nat: boolean;
  /** Counts, original direction (destroy events, with accounting on). */
  origCounters?: CtCounters;
  replyCounters?: CtCounters;
  /** Start and stop, ns since the epoch (with nf_conntrack_timestamp on). */
  startNs?: number;
  stopNs?: number;
}

// The decoder walks attributes by offset (findAttr): no Map, Buffer or BigInt per attribute. At
// thousands of events a second it is the agent's innermost loop.

/** The value's offset and length of attribute `type` in [start, end), or undefined. */
function find(buf: Buffer, start: number, end: number, type: number): { at: number; len: number } | undefined {
  const at = findAttr(buf, start, end, type);
  return at < 0 ? undefined : { at, len: attrValueLength(buf, at) };
}

function tuple(buf: Buffer, v: { at: number; len: number } | undefined, family: 4 | 6): CtTuple | undefined {
  if (!v) return undefined;
  const end = v.at + v.len;
  const ip = find(buf, v.at, end, TUPLE.IP);
  const pr = find(buf, v.at, end, TUPLE.PROTO);
  if (!ip || !pr) return undefined;
  const want = family === 4 ? 4 : 16;
  const src = findAttr(buf, ip.at, ip.at + ip.len, family === 4 ? IP.V4_SRC : IP.V6_SRC);
  const dst = findAttr(buf, ip.at, ip.at + ip.len, family === 4 ? IP.V4_DST : IP.V6_DST);
  const prEnd = pr.at + pr.len;
  const num = findAttr(buf, pr.at, prEnd, PROTO.NUM);
  if (src < 0 || dst < 0 || num < 0 || attrValueLength(buf, src) !== want || attrValueLength(buf, dst) !== want || attrValueLength(buf, num) < 1) return undefined;
  const out: CtTuple = { family, src: ipAt(buf, src, family), dst: ipAt(buf, dst, family), proto: buf[num]! };
  const sp = findAttr(buf, pr.at, prEnd, PROTO.SRC_PORT);
  const dp = findAttr(buf, pr.at, prEnd, PROTO.DST_PORT);
  if (sp >= 0 && attrValueLength(buf, sp) >= 2) out.srcPort = (buf[sp]! << 8) | buf[sp + 1]!;
  if (dp >= 0 && attrValueLength(buf, dp) >= 2) out.dstPort = (buf[dp]! << 8) | buf[dp + 1]!;
  if (out.proto === 1 || out.proto === 58) {
    const it = findAttr(buf, pr.at, prEnd, family === 4 ? PROTO.ICMP_TYPE : PROTO.ICMPV6_TYPE);
    const ic = findAttr(buf, pr.at, prEnd, family === 4 ? PROTO.ICMP_CODE : PROTO.ICMPV6_CODE);
    if (it >= 0 && attrValueLength(buf, it) >= 1) out.icmpType = buf[it]!;
    if (ic >= 0 && attrValueLength(buf, ic) >= 1) out.icmpCode = buf[ic]!;
  }
  return out;
}

// IPv4 text by address: a node sees the same few addresses (its pods, their peers) over and
// over, and building the text is most of a tuple's cost. Bounded; cleared when full.
const v4Text = new Map<number, string>();
function v4At(buf: Buffer, at: number): string {
  const n = be32At(buf, at);
  let t = v4Text.get(n);
  if (t === undefined) {
    if (v4Text.size >= 8192) v4Text.clear();
    v4Text.set(n, (t = `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`));
  }
  return t;
}

const ipAt = (buf: Buffer, at: number, family: 4 | 6): string => (family === 4 ? v4At(buf, at) : ipText(buf.subarray(at, at + 16)));

function u64(buf: Buffer, start: number, end: number, type: number): number | undefined {
  const at = findAttr(buf, start, end, type);
  return at >= 0 && attrValueLength(buf, at) >= 8 ? be64At(buf, at) : undefined;
}

function counters(buf: Buffer, v: { at: number; len: number } | undefined): CtCounters | undefined {
  if (!v) return undefined;
  const packets = u64(buf, v.at, v.at + v.len, 1);
  const bytes = u64(buf, v.at, v.at + v.len, 2);
  return packets === undefined || bytes === undefined ? undefined : { packets, bytes };
}

/**
 * The conntrack events in one datagram, the `length` bytes of `buf` from `start` (other messages
 * are skipped), appended to `out`. `withReply` false leaves out the reply tuple (flow records do
 * not use it).
 */
export function decodeConntrack(buf: Buffer, length = buf.length, out: CtEvent[] = [], withReply = true, start = 0): CtEvent[] {
  const stop = start + length;
  for (let off = start; off + 16 <= stop; ) {
    const mlen = (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
    if (mlen < 16 || off + mlen > stop) break;
    const type = buf[off + 4]! | (buf[off + 5]! << 8);
    const p = off + 16;
    const end = off + mlen;
    off += (mlen + 3) & ~3;
    if ((type !== MSG_NEW && type !== MSG_DELETE) || end - p < 4) continue;
    const fam = buf[p] === 2 ? 4 : buf[p] === 10 ? 6 : undefined;
    if (!fam) continue;
    // One pass over the top-level attributes: where each one we read starts (-1: absent).
    let tOrig = -1, tReply = -1, st = -1, id = -1, cOrig = -1, cReply = -1, ts = -1;
    for (let a = p + 4; a + 4 <= end; ) {
      const len = buf[a]! | (buf[a + 1]! << 8);
      if (len < 4 || a + len > end) break;
      switch ((buf[a + 2]! | (buf[a + 3]! << 8)) & 0x3fff) {
        case CTA.TUPLE_ORIG: tOrig = a; break;
        case CTA.TUPLE_REPLY: tReply = a; break;
        case CTA.STATUS: st = a; break;
        case CTA.ID: id = a; break;
        case CTA.COUNTERS_ORIG: cOrig = a; break;
        case CTA.COUNTERS_REPLY: cReply = a; break;
        case CTA.TIMESTAMP: ts = a; break;
      }
      a += (len + 3) & ~3;
    }
    const orig = tuple(buf, span(buf, tOrig), fam);
    if (!orig) continue;
    const status = st >= 0 && attrValueLength(buf, st + 4) >= 4 ? be32At(buf, st + 4) : 0;
    const ev: CtEvent = { type: type === MSG_NEW ? 'new' : 'destroy', orig, nat: (status & IPS_NAT_MASK) !== 0 };
    const reply = withReply ? tuple(buf, span(buf, tReply), fam) : undefined;
    if (reply) ev.reply = reply;
    if (id >= 0 && attrValueLength(buf, id + 4) >= 4) ev.id = be32At(buf, id + 4);
    const oc = counters(buf, span(buf, cOrig));
    const rc = counters(buf, span(buf, cReply));
    if (oc) ev.origCounters = oc;
    if (rc) ev.replyCounters = rc;
    if (ts >= 0) {
      const t = span(buf, ts)!;
      const start = u64(buf, t.at, t.at + t.len, 1);
      const stop = u64(buf, t.at, t.at + t.len, 2);
      if (start !== undefined) ev.startNs = start;
      if (stop !== undefined) ev.stopNs = stop;
    }
    out.push(ev);
  }
  return out;
}

/** The value's offset and length of the attribute at `a` (its header), or undefined for -1. */
const span = (buf: Buffer, a: number): { at: number; len: number } | undefined => (a < 0 ? undefined : { at: a + 4, len: attrValueLength(buf, a + 4) });

/** How often a busy polled socket is drained, and the longest pause of an idle one. */
export const CT_POLL_MS = { busy: 50, idle: 100 };
/** Datagrams read per turn at most (then the next turn comes at once), so the agent's other work is never starved. */
const PER_TURN = 4096;

/**
 * Conntrack NEW and DESTROY events of the calling process's network namespace. Turns on
 * accounting and timestamps there (both per namespace), which only affect connections created
 * after. The socket is polled (nl-poll.ts: up to 64 events per recvmmsg, no wake-up per event) every
 * CT_POLL_MS.busy while events come, backing off to CT_POLL_MS.idle when none do; without koffi it
 * falls back to the netlink package's socket (a JS callback per event).
 */
export class ConntrackEvents {
  private sock: InstanceType<typeof nl.RawNetlinkSocket> | undefined;
  private polled: PolledNetlinkSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private interval = CT_POLL_MS.busy;
  /** ENOBUFS reports: events were lost (how many, the kernel does not say). */
  overflows = 0;
  /** How the socket is read: `poll` (koffi), or `callback` and why not poll. */
  readonly mode: string;

  private constructor(
    private readonly onEvents: (e: CtEvent[]) => void,
    recvBufferSize: number,
    private readonly onReadError: (errno: number) => void,
  ) {
    const groups = [NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE, NFNLGRP_CONNTRACK_DESTROY];
    // TWILL_CT_READ=callback forces the fallback (tests, and bench/flows/cost.ts comparing the two).
    const support = process.env['TWILL_CT_READ'] === 'callback' ? { ok: false as const, why: 'TWILL_CT_READ=callback is set' } : polledNetlinkSupport();
    this.polled = support.ok ? PolledNetlinkSocket.open(NETLINK_NETFILTER, groups, recvBufferSize) : undefined;
    if (this.polled) {
      this.mode = 'poll';
      this.schedule(0);
      return;
    }
    this.mode = `callback (${support.ok ? 'no polled socket' : support.why})`;
    const sock = new nl.RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize, sendBufferSize: 4096 });
    sock.on('message', (buf: Buffer) => {
      const evs = decodeConntrack(buf);
      if (evs.length) onEvents(evs);
    });
    sock.on('error', (e: { code?: string }) => {
      if (e.code === 'ENOBUFS') this.overflows++;
    });
    for (const g of groups) sock.addMembership(g);
    this.sock = sock;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => this.drain(), ms);
  }

  /** Reads what the kernel queued since the last turn, hands it over in one call, and schedules the next turn. */
  private drain(): void {
    const s = this.polled;
    if (!s || s.closed) return;
    const evs: CtEvent[] = [];
    let n = 0;
    while (n < PER_TURN) {
      const got = s.recvBatch();
      if (got > 0) {
        const buf = s.batchBuffer;
        for (let i = 0; i < got; i++) {
          // A datagram larger than its slot lost its tail: counted like an overflow.
          if (s.truncated(i)) this.overflows++;
          else decodeConntrack(buf, s.length(i), evs, false, s.offset(i));
        }
        n += got;
      } else if (got === -ENOBUFS) {
        this.overflows++;
        n++;
      } else {
        // -EAGAIN: drained. Anything else goes to the owner (the socket stays; the next turn retries).
        if (got !== -EAGAIN) this.onReadError(-got);
        break;
      }
    }
    try {
      if (evs.length) this.onEvents(evs);
    } finally {
      this.interval = n > 0 ? CT_POLL_MS.busy : Math.min(this.interval * 2, CT_POLL_MS.idle);
      if (!s.closed) this.schedule(n >= PER_TURN ? 0 : this.interval);
    }
  }

  /** `onReadError`: a read of the polled socket failed with this errno (not EAGAIN, not ENOBUFS). */
  static async open(onEvents: (e: CtEvent[]) => void, opts: { recvBufferSize?: number; onReadError?: (errno: number) => void } = {}): Promise<ConntrackEvents> {
    await ensureSysctl('net.netfilter.nf_conntrack_acct', '1');
    await ensureSysctl('net.netfilter.nf_conntrack_timestamp', '1');
    return new ConntrackEvents(onEvents, opts.recvBufferSize ?? 8 << 20, opts.onReadError ?? (() => undefined));
  }

  close(): void {
    this.sock?.close();
    this.polled?.close();
    clearTimeout(this.timer);
    this.sock = this.polled = undefined;
  }
}
