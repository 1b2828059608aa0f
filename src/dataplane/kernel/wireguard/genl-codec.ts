// Kernel WireGuard's generic netlink messages (<linux/wireguard.h>), encoded and decoded here
// byte by byte so the encoding is golden-tested without the module (genl-codec.test.ts).
// Attribute layout: u16 length (header + payload, unpadded), u16 type, payload padded to 4.
import { TwillError } from '../../../util/errors.js';
import { formatIp, ipFromBytes, ipToBytes, parseCidr, parseIp } from '../../../util/ip.js';
import type { WgDeviceChange, WgDeviceState, WgPeerState } from './types.js';
import { attr } from '../nlattr.js';

export const WG_GENL_NAME = 'wireguard';
export const WG_GENL_VERSION = 1;
export const WG_CMD_GET_DEVICE = 0;
export const WG_CMD_SET_DEVICE = 1;

const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;
const AF_INET = 2;
const AF_INET6 = 10;

export const WGDEVICE_A = { IFINDEX: 1, IFNAME: 2, PRIVATE_KEY: 3, PUBLIC_KEY: 4, FLAGS: 5, LISTEN_PORT: 6, FWMARK: 7, PEERS: 8 } as const;
export const WGPEER_A = { PUBLIC_KEY: 1, PRESHARED_KEY: 2, FLAGS: 3, ENDPOINT: 4, PERSISTENT_KEEPALIVE_INTERVAL: 5, LAST_HANDSHAKE_TIME: 6, RX_BYTES: 7, TX_BYTES: 8, ALLOWEDIPS: 9, PROTOCOL_VERSION: 10 } as const;
export const WGALLOWEDIP_A = { FAMILY: 1, IPADDR: 2, CIDR_MASK: 3 } as const;
export const WGPEER_F = { REMOVE_ME: 1, REPLACE_ALLOWEDIPS: 2, UPDATE_ONLY: 4 } as const;

const nest = (type: number, parts: Buffer[]): Buffer => attr(type | NLA_F_NESTED, Buffer.concat(parts));
const u8 = (v: number): Buffer => Buffer.from([v]);
const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
const key = (b64: string): Buffer => {
  const b = Buffer.from(b64, 'base64');
  if (b.length !== 32) throw new TwillError('CONFIG_INVALID', 'WireGuard key must be 32 bytes');
  return b;
};

/** struct sockaddr_in / sockaddr_in6 for "ip:port" or "[ip6]:port". */
export function encodeSockaddr(endpoint: string): Buffer {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(endpoint) ?? /^([^:]+):(\d+)$/.exec(endpoint);
  if (!m) throw new TwillError('CONFIG_INVALID', `WireGuard endpoint "${endpoint}" is not ip:port or [ip6]:port`);
  const ip = parseIp(m[1]!);
  const port = Number(m[2]);
  const b = Buffer.alloc(ip.family === 4 ? 16 : 28);
  b.writeUInt16LE(ip.family === 4 ? AF_INET : AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  ipToBytes(ip).copy(b, ip.family === 4 ? 4 : 8);
  return b;
}

function decodeSockaddr(b: Buffer): string | undefined {
  const fam = b.readUInt16LE(0);
  const port = b.readUInt16BE(2);
  if (fam === AF_INET) return `${formatIp(ipFromBytes(b.subarray(4, 8)))}:${port}`;
  if (fam === AF_INET6) return `[${formatIp(ipFromBytes(b.subarray(8, 24)))}]:${port}`;
  return undefined;
}

function allowedIp(cidr: string): Buffer {
  const c = parseCidr(cidr);
  return nest(0, [
    attr(WGALLOWEDIP_A.FAMILY, u16(c.family === 4 ? AF_INET : AF_INET6)),
    attr(WGALLOWEDIP_A.IPADDR, ipToBytes({ family: c.family, value: c.base })),
    attr(WGALLOWEDIP_A.CIDR_MASK, u8(c.prefix)),
  ]);
}

/** WG_CMD_SET_DEVICE attributes for `ifname`: only what `change` names is sent. */
export function encodeSetDevice(ifname: string, c: WgDeviceChange): Buffer {
  const parts = [attr(WGDEVICE_A.IFNAME, Buffer.from(`${ifname}\0`))];
  if (c.privateKey !== undefined) parts.push(attr(WGDEVICE_A.PRIVATE_KEY, key(c.privateKey)));
  if (c.listenPort !== undefined) parts.push(attr(WGDEVICE_A.LISTEN_PORT, u16(c.listenPort)));
  if (c.fwmark !== undefined) parts.push(attr(WGDEVICE_A.FWMARK, u32(c.fwmark)));
  if (c.peers.length) {
    parts.push(nest(WGDEVICE_A.PEERS, c.peers.map((p) => {
      const pa = [attr(WGPEER_A.PUBLIC_KEY, key(p.publicKey))];
      if ('remove' in p) return nest(0, [...pa, attr(WGPEER_A.FLAGS, u32(WGPEER_F.REMOVE_ME))]);
      if (p.allowedIPs !== undefined) pa.push(attr(WGPEER_A.FLAGS, u32(WGPEER_F.REPLACE_ALLOWEDIPS)));
      if (p.endpoint !== undefined) pa.push(attr(WGPEER_A.ENDPOINT, encodeSockaddr(p.endpoint)));
      if (p.persistentKeepalive !== undefined) pa.push(attr(WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL, u16(p.persistentKeepalive)));
      if (p.allowedIPs !== undefined) pa.push(nest(WGPEER_A.ALLOWEDIPS, p.allowedIPs.map(allowedIp)));
      return nest(0, pa);
    })));
  }
  return Buffer.concat(parts);
}

/** WG_CMD_GET_DEVICE request attributes (sent with NLM_F_DUMP). */
export function encodeGetDevice(ifname: string): Buffer {
  return attr(WGDEVICE_A.IFNAME, Buffer.from(`${ifname}\0`));
}

function* attrs(b: Buffer): Generator<{ type: number; data: Buffer }> {
  let o = 0;
  while (o + 4 <= b.length) {
    const len = b.readUInt16LE(o);
    if (len < 4 || o + len > b.length) throw new TwillError('DECODE', `WireGuard netlink attribute at ${o} has a bad length ${len}`);
    yield { type: b.readUInt16LE(o + 2) & NLA_TYPE_MASK, data: b.subarray(o + 4, o + len) };
    o += (len + 3) & ~3;
  }
}

function decodeAllowedIp(b: Buffer): string | undefined {
  let fam = 0, addr: Buffer | undefined, mask = 0;
  for (const a of attrs(b)) {
    if (a.type === WGALLOWEDIP_A.FAMILY) fam = a.data.readUInt16LE(0);
    else if (a.type === WGALLOWEDIP_A.IPADDR) addr = a.data;
    else if (a.type === WGALLOWEDIP_A.CIDR_MASK) mask = a.data.readUInt8(0);
  }
  if (!addr || (fam !== AF_INET && fam !== AF_INET6)) return undefined;
  return `${formatIp(ipFromBytes(addr))}/${mask}`;
}

function decodePeer(b: Buffer): WgPeerState {
  const p: WgPeerState = { publicKey: '', allowedIPs: [], lastHandshakeMs: 0, rxBytes: 0, txBytes: 0, persistentKeepalive: 0 };
  for (const a of attrs(b)) {
    switch (a.type) {
      case WGPEER_A.PUBLIC_KEY: p.publicKey = a.data.toString('base64'); break;
      case WGPEER_A.ENDPOINT: p.endpoint = decodeSockaddr(a.data); break;
      case WGPEER_A.LAST_HANDSHAKE_TIME: p.lastHandshakeMs = Number(a.data.readBigInt64LE(0)) * 1000 + Math.floor(Number(a.data.readBigInt64LE(8)) / 1e6); break;
      case WGPEER_A.RX_BYTES: p.rxBytes = Number(a.data.readBigUInt64LE(0)); break;
      case WGPEER_A.TX_BYTES: p.txBytes = Number(a.data.readBigUInt64LE(0)); break;
      case WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL: p.persistentKeepalive = a.data.readUInt16LE(0); break;
      case WGPEER_A.ALLOWEDIPS:
        for (const x of attrs(a.data)) { const c = decodeAllowedIp(x.data); if (c) p.allowedIPs.push(c); }
        break;
      default: break;
    }
  }
  return p;
}

/**
 * Decodes the messages of one GET_DEVICE dump (a device with many peers spans several messages,
 * each repeating the device attributes and carrying the next peers).
 */
export function decodeGetDevice(messages: Buffer[]): WgDeviceState {
  const dev: WgDeviceState = { listenPort: 0, fwmark: 0, peers: [] };
  for (const m of messages) {
    for (const a of attrs(m)) {
      switch (a.type) {
        case WGDEVICE_A.PRIVATE_KEY: dev.privateKey = a.data.toString('base64'); break;
        case WGDEVICE_A.LISTEN_PORT: dev.listenPort = a.data.readUInt16LE(0); break;
        case WGDEVICE_A.FWMARK: dev.fwmark = a.data.readUInt32LE(0); break;
        case WGDEVICE_A.PEERS: for (const p of attrs(a.data)) dev.peers.push(decodePeer(p.data)); break;
        default: break;
      }
    }
  }
  return dev;
}

/** A GET_DEVICE answer as the kernel would send it: for decoder tests (no module needed). */
export function encodeDeviceDump(ifname: string, d: WgDeviceState): Buffer {
  const parts = [attr(WGDEVICE_A.IFNAME, Buffer.from(`${ifname}\0`)), attr(WGDEVICE_A.LISTEN_PORT, u16(d.listenPort)), attr(WGDEVICE_A.FWMARK, u32(d.fwmark))];
  if (d.privateKey) parts.push(attr(WGDEVICE_A.PRIVATE_KEY, key(d.privateKey)));
  parts.push(nest(WGDEVICE_A.PEERS, d.peers.map((p) => {
    const ts = Buffer.alloc(16);
    ts.writeBigInt64LE(BigInt(Math.floor(p.lastHandshakeMs / 1000)), 0);
    ts.writeBigInt64LE(BigInt((p.lastHandshakeMs % 1000) * 1e6), 8);
    const u64 = (v: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
    return nest(0, [
      attr(WGPEER_A.PUBLIC_KEY, key(p.publicKey)),
      ...(p.endpoint ? [attr(WGPEER_A.ENDPOINT, encodeSockaddr(p.endpoint))] : []),
      attr(WGPEER_A.LAST_HANDSHAKE_TIME, ts),
      attr(WGPEER_A.RX_BYTES, u64(p.rxBytes)),
      attr(WGPEER_A.TX_BYTES, u64(p.txBytes)),
      attr(WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL, u16(p.persistentKeepalive)),
      nest(WGPEER_A.ALLOWEDIPS, p.allowedIPs.map(allowedIp)),
    ]);
  })));
  return Buffer.concat(parts);
}
