// planWgDevice: what to send to the device so it matches compile's peers. Pure. Unchanged peers
// are not touched (re-sending a peer is harmless, but a replace_peers would drop every session
// and cost a handshake per peer), so a rotation elsewhere changes exactly one peer here.
import type { WgDeviceChange, WgDeviceState, WgPeerChange } from '../kernel/wireguard/types.js';
import type { DesiredEncryption } from './types.js';

const sameSet = (a: string[], b: string[]): boolean => a.length === b.length && [...a].sort().join() === [...b].sort().join();

export function planWgDevice(cur: WgDeviceState, want: DesiredEncryption, privateKey: string): WgDeviceChange | undefined {
  const change: WgDeviceChange = { peers: [] };
  if (cur.privateKey !== privateKey) change.privateKey = privateKey;
  if (cur.listenPort !== want.device.listenPort) change.listenPort = want.device.listenPort;
  if (cur.fwmark !== want.device.fwmark) change.fwmark = want.device.fwmark;
  const have = new Map(cur.peers.map((p) => [p.publicKey, p]));
  const peers: WgPeerChange[] = [];
  const wanted = new Set(want.peers.map((p) => p.publicKey));
  // Removals first: a block that moves from one peer's key to another's (a rotation) must leave the
  // old peer before the new one claims it, or WireGuard moves it and then the removal drops nothing.
  for (const p of cur.peers) if (!wanted.has(p.publicKey)) peers.push({ publicKey: p.publicKey, remove: true });
  for (const w of want.peers) {
    const h = have.get(w.publicKey);
    if (h && h.endpoint === w.endpoint && sameSet(h.allowedIPs, w.allowedIPs) && h.persistentKeepalive === w.persistentKeepalive) continue;
    peers.push({ publicKey: w.publicKey, endpoint: w.endpoint, allowedIPs: w.allowedIPs, persistentKeepalive: w.persistentKeepalive });
  }
  change.peers = peers;
  const empty = change.privateKey === undefined && change.listenPort === undefined && change.fwmark === undefined && peers.length === 0;
  return empty ? undefined : change;
}

/** For logs: what a change does, without any key material beyond a short public-key prefix. */
export function describeWgChange(c: WgDeviceChange): string[] {
  const out: string[] = [];
  if (c.privateKey !== undefined) out.push('set private key');
  if (c.listenPort !== undefined) out.push(`listen port ${c.listenPort}`);
  if (c.fwmark !== undefined) out.push(`fwmark 0x${c.fwmark.toString(16)}`);
  for (const p of c.peers) {
    const id = p.publicKey.slice(0, 8);
    out.push('remove' in p ? `remove peer ${id}…` : `peer ${id}… endpoint ${p.endpoint} allowed ${p.allowedIPs?.join(',')}`);
  }
  return out;
}
