// Conntrack events over netlink (NETLINK_NETFILTER, subsystem CTNETLINK): one message when a
// connection is confirmed (NFNLGRP_CONNTRACK_NEW) and one when it ends (NFNLGRP_CONNTRACK_DESTROY),
// the latter with packet and byte counts when net.netfilter.nf_conntrack_acct is on. Conntrack
// events carry no sequence number: a receive-buffer overflow (ENOBUFS) is counted, and an end
// whose start was never seen still yields a whole record. `decodeConntrack` is pure.
// (include/uapi/linux/netfilter/nfnetlink_conntrack.h)
import nl from 'netlink';
import { ensureSysctl } from './sysctl.js';
import { attrValueLength, be64At, findAttr, ipText } from './nlattr.js';

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_CTNETLINK = 1;
const MSG_NEW = (NFNL_SUBSYS_CTNETLINK << 8) | 0;
const MSG_DELETE = (NFNL_SUBSYS_CTNETLINK << 8) | 2;
export const NFNLGRP_CONNTRACK_NEW = 1;
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
  if (sp >= 0 && attrValueLength(buf, sp) >= 2) out.srcPort = buf.readUInt16BE(sp);
  if (dp >= 0 && attrValueLength(buf, dp) >= 2) out.dstPort = buf.readUInt16BE(dp);
  if (out.proto === 1 || out.proto === 58) {
    const it = findAttr(buf, pr.at, prEnd, family === 4 ? PROTO.ICMP_TYPE : PROTO.ICMPV6_TYPE);
    const ic = findAttr(buf, pr.at, prEnd, family === 4 ? PROTO.ICMP_CODE : PROTO.ICMPV6_CODE);
    if (it >= 0 && attrValueLength(buf, it) >= 1) out.icmpType = buf[it]!;
    if (ic >= 0 && attrValueLength(buf, ic) >= 1) out.icmpCode = buf[ic]!;
  }
  return out;
}

const ipAt = (buf: Buffer, at: number, family: 4 | 6): string => (family === 4 ? `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}` : ipText(buf.subarray(at, at + 16)));

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

/** The conntrack events in one datagram (other messages are skipped). */
export function decodeConntrack(buf: Buffer): CtEvent[] {
  const out: CtEvent[] = [];
  for (let off = 0; off + 16 <= buf.length; ) {
    const mlen = buf.readUInt32LE(off);
    if (mlen < 16 || off + mlen > buf.length) break;
    const type = buf.readUInt16LE(off + 4);
    const p = off + 16;
    const end = off + mlen;
    off += (mlen + 3) & ~3;
    if ((type !== MSG_NEW && type !== MSG_DELETE) || end - p < 4) continue;
    const fam = buf[p] === 2 ? 4 : buf[p] === 10 ? 6 : undefined;
    if (!fam) continue;
    const orig = tuple(buf, find(buf, p + 4, end, CTA.TUPLE_ORIG), fam);
    if (!orig) continue;
    const st = findAttr(buf, p + 4, end, CTA.STATUS);
    const status = st >= 0 && attrValueLength(buf, st) >= 4 ? buf.readUInt32BE(st) : 0;
    const ev: CtEvent = { type: type === MSG_NEW ? 'new' : 'destroy', orig, nat: (status & IPS_NAT_MASK) !== 0 };
    const reply = tuple(buf, find(buf, p + 4, end, CTA.TUPLE_REPLY), fam);
    if (reply) ev.reply = reply;
    const id = findAttr(buf, p + 4, end, CTA.ID);
    if (id >= 0 && attrValueLength(buf, id) >= 4) ev.id = buf.readUInt32BE(id);
    const oc = counters(buf, find(buf, p + 4, end, CTA.COUNTERS_ORIG));
    const rc = counters(buf, find(buf, p + 4, end, CTA.COUNTERS_REPLY));
    if (oc) ev.origCounters = oc;
    if (rc) ev.replyCounters = rc;
    const ts = find(buf, p + 4, end, CTA.TIMESTAMP);
    if (ts) {
      const start = u64(buf, ts.at, ts.at + ts.len, 1);
      const stop = u64(buf, ts.at, ts.at + ts.len, 2);
      if (start !== undefined) ev.startNs = start;
      if (stop !== undefined) ev.stopNs = stop;
    }
    out.push(ev);
  }
  return out;
}

/**
 * Conntrack NEW and DESTROY events of the calling process's network namespace. Turns on
 * accounting and timestamps there (both per namespace), which only affect connections created
 * after.
 */
export class ConntrackEvents {
  private readonly sock: InstanceType<typeof nl.RawNetlinkSocket>;
  /** ENOBUFS reports: events were lost (how many, the kernel does not say). */
  overflows = 0;

  private constructor(onEvents: (e: CtEvent[]) => void, recvBufferSize: number) {
    this.sock = new nl.RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize, sendBufferSize: 4096 });
    this.sock.on('message', (buf: Buffer) => {
      const evs = decodeConntrack(buf);
      if (evs.length) onEvents(evs);
    });
    this.sock.on('error', (e: { code?: string }) => {
      if (e.code === 'ENOBUFS') this.overflows++;
    });
    this.sock.addMembership(NFNLGRP_CONNTRACK_NEW);
    this.sock.addMembership(NFNLGRP_CONNTRACK_DESTROY);
  }

  static async open(onEvents: (e: CtEvent[]) => void, opts: { recvBufferSize?: number } = {}): Promise<ConntrackEvents> {
    await ensureSysctl('net.netfilter.nf_conntrack_acct', '1');
    await ensureSysctl('net.netfilter.nf_conntrack_timestamp', '1');
    return new ConntrackEvents(onEvents, opts.recvBufferSize ?? 4 << 20);
  }

  close(): void {
    this.sock.close();
  }
}
