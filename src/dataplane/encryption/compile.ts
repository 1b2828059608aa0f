// compileEncryption: snapshot → the WireGuard device, its peers, the routes of WireGuard's table,
// the policy rule and the strict-mode nftables table. Pure and deterministic (peers in name
// order, sorted output), golden-tested in compile.test.ts.
import { NFT_TABLE_ENCRYPTION, ROUTE_PROTOCOL, WIREGUARD_DEVICE, WIREGUARD_FWMARK, WIREGUARD_ROUTE_TABLE, WIREGUARD_RULE_PRIORITY } from '../kernel/names.js';
import { TwillError } from '../../util/errors.js';
import { cidrOverlaps, formatCidr, hostCidr, isIp, tryParseCidr, type Cidr, type Family } from '../../util/ip.js';
import { isWireguardKey } from './keys.js';
import type { DesiredEncryption, EncryptionSnapshot, WgPeerSpec, WgRouteSpec } from './types.js';

/** Outer IPv4 20 + UDP 8 + WireGuard header 16 + auth tag 16 = 60 (IPv6 underlay: 80). */
export const WIREGUARD_OVERHEAD_V4 = 60;
export const WIREGUARD_OVERHEAD_V6 = 80;
export const WIREGUARD_KEEPALIVE_SECONDS = 25;

function compareCidr(a: string, b: string): number {
  const x = tryParseCidr(a)!;
  const y = tryParseCidr(b)!;
  if (x.family !== y.family) return x.family - y.family;
  if (x.base !== y.base) return x.base < y.base ? -1 : 1;
  return x.prefix - y.prefix;
}

function norm(cidrs: string[], bad: (c: string) => void): Cidr[] {
  const out: Cidr[] = [];
  for (const c of cidrs) {
    const p = tryParseCidr(c);
    if (p) out.push(p);
    else bad(c);
  }
  return out;
}

export function compileEncryption(snap: EncryptionSnapshot): DesiredEncryption {
  const { self, config } = snap;
  if (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535) {
    throw new TwillError('CONFIG_INVALID', `wireguard.port ${config.port} is not a UDP port (1..65535)`);
  }
  if (!isIp(self.underlayIP)) throw new TwillError('CONFIG_INVALID', `this node's underlay address "${self.underlayIP}" is not an IP address`);
  const ipv6Underlay = self.underlayIP.includes(':');
  const overhead = ipv6Underlay ? WIREGUARD_OVERHEAD_V6 : WIREGUARD_OVERHEAD_V4;
  const mtu = self.underlayMTU - overhead;
  const errors: { peer: string; reason: string }[] = [];
  const own = norm(self.blocks, (c) => errors.push({ peer: self.name, reason: `own block "${c}" is not a CIDR; skipped` }));
  const taken: { cidr: Cidr; owner: string }[] = own.map((c) => ({ cidr: c, owner: `this node (${self.name})` }));
  const keys = new Map<string, string>([[self.publicKey, `this node (${self.name})`]]);
  const peers: WgPeerSpec[] = [];
  const routes: WgRouteSpec[] = [];
  const route = (dst: string): WgRouteSpec => ({ dst, dev: WIREGUARD_DEVICE, table: WIREGUARD_ROUTE_TABLE, protocol: ROUTE_PROTOCOL });
  const seen = new Set<string>();
  for (const p of [...snap.peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (p.name === self.name || seen.has(p.name)) continue;
    seen.add(p.name);
    const fail = (reason: string): void => void errors.push({ peer: p.name, reason });
    const wg = p.wireguard;
    if (!wg) {
      fail(`publishes no WireGuard key yet${config.strict ? ' (strict mode: traffic to its pods is dropped until it does)' : ' (its pods are reached in clear)'}`);
      continue;
    }
    if (!isWireguardKey(wg.publicKey)) { fail(`WireGuard public key "${wg.publicKey}" is not 32 bytes of base64; skipped`); continue; }
    if (!Number.isInteger(wg.port) || wg.port < 1 || wg.port > 65535) { fail(`WireGuard port ${wg.port} is not a UDP port; skipped`); continue; }
    if (!isIp(p.underlayIP)) { fail(`underlay address "${p.underlayIP}" is not an IP address; skipped`); continue; }
    const holder = keys.get(wg.publicKey);
    if (holder) { fail(`WireGuard public key is already used by ${holder}; skipped`); continue; }
    const mine: Cidr[] = [];
    for (const c of norm(p.blocks, (x) => fail(`block "${x}" is not a CIDR; skipped`))) {
      const h = taken.find((t) => cidrOverlaps(t.cidr, c))?.owner ?? (mine.some((m) => cidrOverlaps(m, c)) ? p.name : undefined);
      if (h) fail(`block ${formatCidr(c)} overlaps a block held by ${h}; skipped`);
      else mine.push(c);
    }
    // Every block refused: peering would only add a key with nothing behind it.
    if (mine.length === 0 && p.blocks.length > 0) continue;
    for (const c of mine) taken.push({ cidr: c, owner: p.name });
    keys.set(wg.publicKey, p.name);
    // The peer's node address is always an allowed source: what a node sends to a remote pod
    // (a ping, a health check, a NodePort connection masqueraded to the node's address) enters
    // the tunnel through the pod block's route and arrives with the node's address as source,
    // which WireGuard would drop otherwise. Only `nodeTraffic` routes our traffic *to* the
    // peer's node address through the tunnel as well.
    const blocks = mine.map(formatCidr);
    const allowed = [...blocks, hostCidr(p.underlayIP)].sort(compareCidr);
    peers.push({ node: p.name, publicKey: wg.publicKey, endpoint: p.underlayIP.includes(':') ? `[${p.underlayIP}]:${wg.port}` : `${p.underlayIP}:${wg.port}`, allowedIPs: allowed, persistentKeepalive: WIREGUARD_KEEPALIVE_SECONDS });
    routes.push(...(config.nodeTraffic ? allowed : blocks).map(route));
  }
  return {
    device: { name: WIREGUARD_DEVICE, listenPort: config.port, fwmark: WIREGUARD_FWMARK, mtu },
    peers,
    routes: routes.sort((a, b) => compareCidr(a.dst, b.dst)),
    rule: { priority: WIREGUARD_RULE_PRIORITY, table: WIREGUARD_ROUTE_TABLE, notFwmark: WIREGUARD_FWMARK },
    strictTable: config.strict ? strictTable(config.pools, own) : undefined,
    podMTU: mtu,
    peerErrors: errors,
  };
}

/**
 * Strict mode: pool → pool traffic forwarded by this node that does not leave through the
 * WireGuard device and is not for one of our own blocks is dropped. That covers a peer without a
 * key (its blocks are routed by the backend, in clear), a rotation (routes stay on twill-wg; the
 * tunnel holds packets until the new handshake) and a dead device (the kernel drops its routes,
 * lookups fall through to the backend's route: dropped here). The table is replaced whole.
 */
function strictTable(pools: string[], own: Cidr[]): string {
  const fam = (f: Family): { type: string; match: string } => (f === 4 ? { type: 'ipv4_addr', match: 'ip' } : { type: 'ipv6_addr', match: 'ip6' });
  const lines: string[] = [`table inet ${NFT_TABLE_ENCRYPTION} {}`, `delete table inet ${NFT_TABLE_ENCRYPTION}`, `table inet ${NFT_TABLE_ENCRYPTION} {`];
  const rules: string[] = [];
  for (const f of [4, 6] as const) {
    const pool = pools.map((p) => tryParseCidr(p)).filter((c): c is NonNullable<typeof c> => c?.family === f).map(formatCidr).sort(compareCidr);
    if (pool.length === 0) continue;
    const local = own.filter((c) => c.family === f).map(formatCidr).sort(compareCidr);
    const { type, match } = fam(f);
    lines.push(`\tset pool_v${f} {`, `\t\ttype ${type}`, '\t\tflags interval', `\t\telements = { ${pool.join(', ')} }`, '\t}');
    lines.push(`\tset local_v${f} {`, `\t\ttype ${type}`, '\t\tflags interval', ...(local.length ? [`\t\telements = { ${local.join(', ')} }`] : []), '\t}');
    rules.push(`\t\t${match} daddr @local_v${f} return`);
    rules.push(`\t\t${match} saddr @pool_v${f} ${match} daddr @pool_v${f} counter drop comment "strict: pod traffic to another node leaves only through ${WIREGUARD_DEVICE}"`);
  }
  lines.push('\tchain forward {', '\t\ttype filter hook forward priority filter - 10; policy accept;', `\t\toifname "${WIREGUARD_DEVICE}" return`, ...rules, '\t}', '}');
  return lines.join('\n') + '\n';
}
