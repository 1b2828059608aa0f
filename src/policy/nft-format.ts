// How values are written in nft text: addresses, ranges, protocols, ports, comments. Used by the
// compiler for element keys, so the same value always has the same text (the diff compares text).
import { formatIp, bits, type Family } from '../util/ip.js';
import type { Range } from './boxes.js';

export const PROTO_NUMBER: Record<string, number> = { ICMP: 1, TCP: 6, UDP: 17, SCTP: 132, ICMPV6: 58 };
const PROTO_NAME: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

export const ALL_PROTOS: Range = [0n, 255n];
export const ALL_PORTS: Range = [0n, 65535n];

export function maxAddr(family: Family): bigint {
  return (1n << BigInt(bits(family))) - 1n;
}

export function fullRange(family: Family): Range {
  return [0n, maxAddr(family)];
}

/** `a`, `a/len` when the range is one aligned prefix, else `a-b`. */
export function formatAddrRange(family: Family, r: Range): string {
  const [lo, hi] = r;
  const lo_ = formatIp({ family, value: lo });
  if (lo === hi) return lo_;
  const size = hi - lo + 1n;
  if ((size & (size - 1n)) === 0n && lo % size === 0n) {
    const len = bits(family) - (size.toString(2).length - 1);
    return `${lo_}/${len}`;
  }
  return `${lo_}-${formatIp({ family, value: hi })}`;
}

export function formatProtoRange(r: Range): string {
  if (r[0] === r[1]) return PROTO_NAME[Number(r[0])] ?? String(r[0]);
  return `${r[0]}-${r[1]}`;
}

export function formatPortRange(r: Range): string {
  return r[0] === r[1] ? String(r[0]) : `${r[0]}-${r[1]}`;
}

/** nft keeps at most 128 bytes of comment; names in comments are Kubernetes names (no quotes). */
export function nftComment(s: string): string {
  let c = comments.get(s);
  if (c === undefined) {
    if (comments.size > 100_000) comments.clear();
    const clean = s.replace(/["\\\n]/g, '');
    c = clean.length <= 120 ? clean : `${clean.slice(0, 117)}...`;
    comments.set(s, c);
  }
  return c;
}
const comments = new Map<string, string>();

export function addrType(family: Family): string {
  return family === 4 ? 'ipv4_addr' : 'ipv6_addr';
}

export function ipKeyword(family: Family): string {
  return family === 4 ? 'ip' : 'ip6';
}
