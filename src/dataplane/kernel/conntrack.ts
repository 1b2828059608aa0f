// Conntrack events over netlink (NETLINK_NETFILTER, subsystem CTNETLINK): one message when a
// connection is confirmed (NFNLGRP_CONNTRACK_NEW) and one when it ends (NFNLGRP_CONNTRACK_DESTROY),
// the latter with packet and byte counts when net.netfilter.nf_conntrack_acct is on. Conntrack
// events carry no sequence number: a receive-buffer overflow (ENOBUFS) is counted, and an end
// whose start was never seen still yields a whole record. `decodeConntrack` is pure.
// (include/uapi/linux/netfilter/nfnetlink_conntrack.h)
import nl from 'netlink';
import { ensureSysctl } from './sysctl.js';
import { be16, be32, be64, ipText, parseAttrs, splitMessages } from './nlattr.js';

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

function tuple(b: Buffer | undefined, family: 4 | 6): CtTuple | undefined {
  if (!b) return undefined;
  const t = parseAttrs(b);
  const ip = t.get(TUPLE.IP);
  const pr = t.get(TUPLE.PROTO);
  if (!ip || !pr) return undefined;
  const a = parseAttrs(ip);
  const src = a.get(family === 4 ? IP.V4_SRC : IP.V6_SRC);
  const dst = a.get(family === 4 ? IP.V4_DST : IP.V6_DST);
  const p = parseAttrs(pr);
  const num = p.get(PROTO.NUM);
  if (!src || !dst || !num) return undefined;
  const out: CtTuple = { family, src: ipText(src), dst: ipText(dst), proto: num[0]! };
  const sp = be16(p.get(PROTO.SRC_PORT));
  const dp = be16(p.get(PROTO.DST_PORT));
  if (sp !== undefined) out.srcPort = sp;
  if (dp !== undefined) out.dstPort = dp;
  const it = p.get(family === 4 ? PROTO.ICMP_TYPE : PROTO.ICMPV6_TYPE);
  const ic = p.get(family === 4 ? PROTO.ICMP_CODE : PROTO.ICMPV6_CODE);
  if (it) out.icmpType = it[0]!;
  if (ic) out.icmpCode = ic[0]!;
  return out;
}

function counters(b: Buffer | undefined): CtCounters | undefined {
  if (!b) return undefined;
  const c = parseAttrs(b);
  const packets = be64(c.get(1));
  const bytes = be64(c.get(2));
  return packets === undefined || bytes === undefined ? undefined : { packets, bytes };
}

/** The conntrack events in one datagram (other messages are skipped). */
export function decodeConntrack(buf: Buffer): CtEvent[] {
  const out: CtEvent[] = [];
  for (const m of splitMessages(buf)) {
    if ((m.type !== MSG_NEW && m.type !== MSG_DELETE) || m.payload.length < 4) continue;
    const fam = m.payload[0] === 2 ? 4 : m.payload[0] === 10 ? 6 : undefined;
    if (!fam) continue;
    const a = parseAttrs(m.payload, 4);
    const orig = tuple(a.get(CTA.TUPLE_ORIG), fam);
    if (!orig) continue;
    const ev: CtEvent = { type: m.type === MSG_NEW ? 'new' : 'destroy', orig, nat: ((be32(a.get(CTA.STATUS)) ?? 0) & IPS_NAT_MASK) !== 0 };
    const reply = tuple(a.get(CTA.TUPLE_REPLY), fam);
    if (reply) ev.reply = reply;
    const id = be32(a.get(CTA.ID));
    if (id !== undefined) ev.id = id;
    const oc = counters(a.get(CTA.COUNTERS_ORIG));
    const rc = counters(a.get(CTA.COUNTERS_REPLY));
    if (oc) ev.origCounters = oc;
    if (rc) ev.replyCounters = rc;
    const ts = a.get(CTA.TIMESTAMP);
    if (ts) {
      const t = parseAttrs(ts);
      const start = be64(t.get(1));
      const stop = be64(t.get(2));
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
