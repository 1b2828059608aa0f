// wireguard-go's UAPI text protocol (the cross-platform "configuration protocol" of WireGuard):
// `set=1` / `get=1` requests of key=value lines, ended by an empty line; answers end with
// `errno=N` and an empty line. Keys travel as hex. Pure: encode and parse only (uapi.test.ts).
import { TwillError } from '../../../util/errors.js';
import type { WgDeviceChange, WgDeviceState, WgPeerState } from './types.js';

const hex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');
const b64 = (h: string): string => Buffer.from(h, 'hex').toString('base64');

export function encodeUapiSet(c: WgDeviceChange): string {
  const l = ['set=1'];
  if (c.privateKey !== undefined) l.push(`private_key=${hex(c.privateKey)}`);
  if (c.listenPort !== undefined) l.push(`listen_port=${c.listenPort}`);
  if (c.fwmark !== undefined) l.push(`fwmark=${c.fwmark}`);
  for (const p of c.peers) {
    l.push(`public_key=${hex(p.publicKey)}`);
    if ('remove' in p) {
      l.push('remove=true');
      continue;
    }
    if (p.endpoint !== undefined) l.push(`endpoint=${p.endpoint}`);
    if (p.persistentKeepalive !== undefined) l.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    if (p.allowedIPs !== undefined) {
      l.push('replace_allowed_ips=true');
      for (const a of p.allowedIPs) l.push(`allowed_ip=${a}`);
    }
  }
  return l.join('\n') + '\n\n';
}

export const UAPI_GET = 'get=1\n\n';

/** The errno line of an answer: 0 is success. */
export function uapiErrno(answer: string): number {
  const m = /(?:^|\n)errno=(-?\d+)\n/.exec(answer);
  if (!m) throw new TwillError('DECODE', `WireGuard UAPI answer has no errno line: ${JSON.stringify(answer.slice(0, 80))}`);
  return Number(m[1]);
}

export function parseUapiGet(answer: string): WgDeviceState {
  const errno = uapiErrno(answer);
  if (errno !== 0) throw new TwillError('KERNEL', `WireGuard UAPI get failed: errno ${errno}`);
  const dev: WgDeviceState = { listenPort: 0, fwmark: 0, peers: [] };
  let peer: WgPeerState | undefined;
  let hsSec = 0;
  for (const line of answer.split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1);
    switch (k) {
      case 'private_key': dev.privateKey = b64(v); break;
      case 'listen_port': dev.listenPort = Number(v); break;
      case 'fwmark': dev.fwmark = Number(v); break;
      case 'public_key':
        peer = { publicKey: b64(v), allowedIPs: [], lastHandshakeMs: 0, rxBytes: 0, txBytes: 0, persistentKeepalive: 0 };
        dev.peers.push(peer);
        break;
      case 'endpoint': if (peer) peer.endpoint = v; break;
      case 'allowed_ip': peer?.allowedIPs.push(v); break;
      case 'last_handshake_time_sec': hsSec = Number(v); break;
      case 'last_handshake_time_nsec': if (peer) peer.lastHandshakeMs = hsSec * 1000 + Math.floor(Number(v) / 1e6); break;
      case 'rx_bytes': if (peer) peer.rxBytes = Number(v); break;
      case 'tx_bytes': if (peer) peer.txBytes = Number(v); break;
      case 'persistent_keepalive_interval': if (peer) peer.persistentKeepalive = Number(v); break;
      default: break; // protocol_version, preshared_key, errno
    }
  }
  return dev;
}
