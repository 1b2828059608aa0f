// NFLOG: packets the policy table's `log group N` rules hand to userspace, over NETLINK_NETFILTER
// (subsystem NFNL_SUBSYS_ULOG). Only the first bytes of each packet are copied (the headers a
// flow record needs); the kernel batches a few messages per datagram. `decodeNflog` is pure and
// unit-tested with captured bytes; `NflogSocket` binds one group in the calling namespace.
//
// Loss: each message carries the group's sequence number (NFULNL_CFG_F_SEQ), so a gap — the
// kernel could not queue a batch, or our receive buffer overflowed (ENOBUFS) — is counted
// exactly. (include/uapi/linux/netfilter/nfnetlink_log.h)
import nl from 'netlink';
import { TwillError } from '../../util/errors.js';
import { attr, be32, cstr, ipText, parseAttrs, splitMessages } from './nlattr.js';

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_ULOG = 4;
const MSG_PACKET = (NFNL_SUBSYS_ULOG << 8) | 0;
const MSG_CONFIG = (NFNL_SUBSYS_ULOG << 8) | 1;
const NLMSG_ERROR = 2;
const A = { PACKET_HDR: 1, IFINDEX_INDEV: 4, IFINDEX_OUTDEV: 5, PAYLOAD: 9, PREFIX: 10, SEQ: 12 } as const;
const CFG = { CMD: 1, MODE: 2, NLBUFSIZ: 3, TIMEOUT: 4, QTHRESH: 5, FLAGS: 6 } as const;
const CMD = { BIND: 1, UNBIND: 2 } as const;
const COPY_PACKET = 2;
const F_SEQ = 1;

/** Bytes of each packet copied to userspace: an IPv6 header and the ports after it (IPv4 options fit too). */
export const NFLOG_COPY_RANGE = 64;

export type L4 = { proto: number; srcPort?: number; dstPort?: number; icmpType?: number; icmpCode?: number };

/** The 5-tuple (and ICMP type) read from a packet's first bytes. */
export interface PacketHeaders extends L4 {
  family: 4 | 6;
  src: string;
  dst: string;
  /** Total length from the IP header. */
  length: number;
  /** TCP flags byte, when TCP and copied. */
  tcpFlags?: number;
  /** TCP sequence number, when TCP and copied (tells a retransmitted SYN from a new one). */
  tcpSeq?: number;
}

export interface NflogPacket {
  prefix: string;
  /** The group's sequence number (absent when the instance does not send it). */
  seq?: number;
  inIfindex?: number;
  outIfindex?: number;
  headers?: PacketHeaders;
}

/** Reads the IP and L4 headers of a packet that begins with its IP header. */
export function parsePacketHeaders(p: Buffer): PacketHeaders | undefined {
  if (p.length < 1) return undefined;
  const v = p[0]! >> 4;
  let proto: number;
  let off: number;
  let out: Omit<PacketHeaders, keyof L4>;
  if (v === 4 && p.length >= 20) {
    proto = p[9]!;
    off = (p[0]! & 0x0f) * 4;
    out = { family: 4, src: ipText(p.subarray(12, 16)), dst: ipText(p.subarray(16, 20)), length: p.readUInt16BE(2) };
  } else if (v === 6 && p.length >= 40) {
    proto = p[6]!;
    off = 40;
    out = { family: 6, src: ipText(p.subarray(8, 24)), dst: ipText(p.subarray(24, 40)), length: p.readUInt16BE(4) + 40 };
  } else return undefined;
  const l4: L4 = { proto };
  if ((proto === 6 || proto === 17 || proto === 132) && p.length >= off + 4) {
    l4.srcPort = p.readUInt16BE(off);
    l4.dstPort = p.readUInt16BE(off + 2);
  } else if ((proto === 1 || proto === 58) && p.length >= off + 2) {
    l4.icmpType = p[off]!;
    l4.icmpCode = p[off + 1]!;
  }
  const h: PacketHeaders = { ...out, ...l4 };
  if (proto === 6 && p.length >= off + 8) h.tcpSeq = p.readUInt32BE(off + 4);
  if (proto === 6 && p.length >= off + 14) h.tcpFlags = p[off + 13]!;
  return h;
}

/** The packets in one datagram from an NFLOG socket (other messages are skipped). */
export function decodeNflog(buf: Buffer): NflogPacket[] {
  const out: NflogPacket[] = [];
  for (const m of splitMessages(buf)) {
    if (m.type !== MSG_PACKET || m.payload.length < 4) continue;
    const a = parseAttrs(m.payload, 4);
    const payload = a.get(A.PAYLOAD);
    const pkt: NflogPacket = { prefix: cstr(a.get(A.PREFIX)) ?? '' };
    const seq = be32(a.get(A.SEQ));
    if (seq !== undefined) pkt.seq = seq;
    const inIf = be32(a.get(A.IFINDEX_INDEV));
    if (inIf !== undefined) pkt.inIfindex = inIf;
    const outIf = be32(a.get(A.IFINDEX_OUTDEV));
    if (outIf !== undefined) pkt.outIfindex = outIf;
    const h = payload ? parsePacketHeaders(payload) : undefined;
    if (h) pkt.headers = h;
    out.push(pkt);
  }
  return out;
}

/** Counts the packets a run of sequence numbers skipped (u32, wrapping). */
export class SeqGaps {
  private last: number | undefined;
  lost = 0;

  see(seq: number | undefined): void {
    if (seq === undefined) return;
    if (this.last !== undefined) {
      const gap = (seq - this.last - 1) >>> 0;
      // A huge "gap" is a restarted instance (its sequence starts again at 0), not a loss.
      if (gap > 0 && gap < 0x80000000) this.lost += gap;
    }
    this.last = seq;
  }
}

// ---- the socket ----

/** One NFULNL_MSG_CONFIG message for `group`. */
export function nflogConfigMessage(group: number, seq: number, attrs: Buffer[]): Buffer {
  const body = Buffer.concat(attrs);
  const b = Buffer.alloc(20 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(MSG_CONFIG, 4);
  b.writeUInt16LE(0x1 | 0x4, 6); // REQUEST | ACK
  b.writeUInt32LE(seq, 8);
  b.writeUInt8(0, 16); // AF_UNSPEC
  b.writeUInt8(0, 17);
  b.writeUInt16BE(group, 18);
  body.copy(b, 20);
  return b;
}

const u8 = (n: number): Buffer => Buffer.from([n]);
const be32b = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const be16b = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};

export interface NflogOptions {
  /** Flush a batch after this many packets (default 16) … */
  batch?: number;
  /** … or after this many hundredths of a second (default 5: 50 ms). */
  flushCentis?: number;
  recvBufferSize?: number;
}

/** A bound NFLOG group: `packets` gets each decoded datagram; `lost` counts what never arrived. */
export class NflogSocket {
  private readonly sock: InstanceType<typeof nl.RawNetlinkSocket>;
  private readonly gaps = new SeqGaps();
  /** ENOBUFS reports: the receive buffer overflowed (the sequence gap counts the packets). */
  overflows = 0;

  private constructor(
    readonly group: number,
    onPackets: (p: NflogPacket[]) => void,
    opts: NflogOptions,
  ) {
    this.sock = new nl.RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: opts.recvBufferSize ?? 4 << 20, sendBufferSize: 64 << 10 });
    this.sock.on('message', (buf: Buffer) => {
      const pkts = decodeNflog(buf);
      for (const p of pkts) this.gaps.see(p.seq);
      if (pkts.length) onPackets(pkts);
    });
    this.sock.on('error', (e: { code?: string }) => {
      if (e.code === 'ENOBUFS') this.overflows++;
    });
  }

  get lost(): number {
    return this.gaps.lost;
  }

  /** Binds `group` in this process's network namespace (fails if another process holds it). */
  static async open(group: number, onPackets: (p: NflogPacket[]) => void, opts: NflogOptions = {}): Promise<NflogSocket> {
    const s = new NflogSocket(group, onPackets, opts);
    try {
      await s.configure([attr(CFG.CMD, u8(CMD.BIND))], 'bind');
      await s.configure(
        [
          attr(CFG.MODE, Buffer.concat([be32b(NFLOG_COPY_RANGE), u8(COPY_PACKET), u8(0)])),
          attr(CFG.QTHRESH, be32b(opts.batch ?? 16)),
          attr(CFG.TIMEOUT, be32b(opts.flushCentis ?? 5)),
          attr(CFG.NLBUFSIZ, be32b(64 << 10)),
          attr(CFG.FLAGS, be16b(F_SEQ)),
        ],
        'configure',
      );
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  private seq = 1;
  private configure(attrs: Buffer[], what: string): Promise<void> {
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new TwillError('KERNEL', `no answer to NFLOG ${what} of group ${this.group}`)), 2000);
      const onMsg = (buf: Buffer): void => {
        for (const m of splitMessages(buf)) {
          if (m.type !== NLMSG_ERROR || m.seq !== seq || m.payload.length < 4) continue;
          const err = -m.payload.readInt32LE(0);
          if (err === 0) return done();
          const hint = err === 16 ? ' (EBUSY: another process is bound to this group)' : err === 1 ? ' (EPERM: needs CAP_NET_ADMIN)' : '';
          return done(new TwillError('KERNEL', `NFLOG ${what} of group ${this.group} failed with errno ${err}${hint}`));
        }
      };
      const done = (e?: Error): void => {
        clearTimeout(timer);
        this.sock.off('message', onMsg);
        if (e) reject(e);
        else resolve();
      };
      this.sock.on('message', onMsg);
      this.sock.send(nflogConfigMessage(this.group, seq, attrs), {}, (e) => e && done(new TwillError('KERNEL', `cannot send the NFLOG ${what}: ${e.message}`, { cause: e })));
    });
  }

  close(): void {
    this.sock.close();
  }
}
