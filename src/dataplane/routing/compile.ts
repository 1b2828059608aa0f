// compileRouting: snapshot → desired kernel state. Pure (no clock, I/O or logging) and
// deterministic: peers are visited in name order, so when two peers claim the same block or VTEP
// the same one wins on every node, and the output is sorted so goldens and diffs stay stable.
import { ROUTE_PROTOCOL } from '../kernel/names.js';
import { cidrOverlaps, formatCidr, parseCidr, prefixMask, type Cidr } from '../../util/ip.js';
import { backends } from './registry.js';
import type { BackendContext, DesiredRouting, FdbSpec, NeighborSpec, PeerError, PeerNode, RouteSpec, RoutingSnapshot } from './types.js';
import { checkConfig, checkPeer, checkSelf, type CheckedSelf } from './validate.js';

/** What earlier peers (and this node) already hold, with the holder's name for messages. */
class Claims {
  readonly vtepIps = new Map<string, string>();
  readonly vtepMacs = new Map<string, string>();
  // Blocks are indexed so that "which earlier block overlaps this one" costs a few map lookups
  // instead of a scan (1,000 peers made the scan quadratic: ~0.7 s of a compile). Two CIDRs
  // overlap when one covers the other: `exact` finds a held block covering the query (one
  // lookup per prefix length in use), `below` a held block the query covers (every held block
  // is entered under each of its shorter prefixes). The earliest claim wins, as a scan in claim
  // order would find it.
  private count = 0;
  private readonly exact = new Map<string, { at: number; owner: string }>();
  private readonly below = new Map<string, { at: number; owner: string }>();
  private readonly prefixes: Record<4 | 6, Set<number>> = { 4: new Set(), 6: new Set() };

  add(c: Cidr, owner: string): void {
    const v = { at: this.count++, owner };
    const k = key(c.family, c.base, c.prefix);
    if (!this.exact.has(k)) this.exact.set(k, v);
    this.prefixes[c.family].add(c.prefix);
    for (let p = c.prefix; p >= 0; p--) {
      const a = key(c.family, c.base & prefixMask(c.family, p), p);
      if (!this.below.has(a)) this.below.set(a, v);
    }
  }

  blockHolder(c: Cidr): string | undefined {
    let best = this.below.get(key(c.family, c.base, c.prefix));
    for (const p of this.prefixes[c.family]) {
      if (p > c.prefix) continue;
      const hit = this.exact.get(key(c.family, c.base & prefixMask(c.family, p), p));
      if (hit && (!best || hit.at < best.at)) best = hit;
    }
    return best?.owner;
  }
}

const key = (family: number, base: bigint, prefix: number): string => `${family}|${base}|${prefix}`;

/** Sorts by CIDR (family, network, prefix), parsing each once rather than per comparison. */
function sortByCidr<T>(xs: T[], cidrOf: (x: T) => string): T[] {
  const keyed = xs.map((x) => ({ x, c: parseCidr(cidrOf(x)) }));
  keyed.sort((a, b) => {
    if (a.c.family !== b.c.family) return a.c.family - b.c.family;
    if (a.c.base !== b.c.base) return a.c.base < b.c.base ? -1 : 1;
    return a.c.prefix - b.c.prefix;
  });
  return keyed.map((k) => k.x);
}

function blackholes(self: CheckedSelf): RouteSpec[] {
  return self.ownBlocks.map((c) => ({ dst: formatCidr(c), type: 'blackhole' as const, protocol: ROUTE_PROTOCOL }));
}

interface Out {
  routes: RouteSpec[];
  neighbors: NeighborSpec[];
  fdb: FdbSpec[];
  peerErrors: PeerError[];
}

function addPeer(ctx: BackendContext, self: CheckedSelf, p: PeerNode, claims: Claims, out: Out): void {
  const fail = (reason: string): void => void out.peerErrors.push({ peer: p.name, reason });
  const chk = checkPeer(self, p);
  chk.errors.forEach(fail);
  if (!chk.peer) return;
  const mine: Cidr[] = [];
  for (const c of chk.cidrs) {
    const holder = claims.blockHolder(c) ?? (mine.some((m) => cidrOverlaps(m, c)) ? p.name : undefined);
    if (holder === undefined) mine.push(c);
    else fail(`block ${formatCidr(c)} overlaps a block held by ${holder}; skipped`);
  }
  // A node that holds no block yet is normal (it is starting); there is nothing to reach.
  if (mine.length === 0) return;
  const reach = backends[ctx.config.backend].reach(ctx, { ...chk.peer, blocks: mine.map(formatCidr) });
  if (!reach.ok) return fail(reach.reason);
  for (const n of reach.neighbors) {
    const holder = claims.vtepIps.get(n.ip);
    if (holder !== undefined) return fail(`VTEP address ${n.ip} is already used by ${holder}; skipped`);
  }
  for (const f of reach.fdb) {
    const holder = claims.vtepMacs.get(f.mac);
    if (holder !== undefined) return fail(`VTEP MAC ${f.mac} is already used by ${holder}; skipped`);
  }
  for (const c of mine) claims.add(c, p.name);
  for (const n of reach.neighbors) claims.vtepIps.set(n.ip, p.name);
  for (const f of reach.fdb) claims.vtepMacs.set(f.mac, p.name);
  out.routes.push(...reach.routes);
  out.neighbors.push(...reach.neighbors);
  out.fdb.push(...reach.fdb);
}

export function compileRouting(snap: RoutingSnapshot): DesiredRouting {
  checkConfig(snap.config);
  const self = checkSelf(snap.self);
  const backend = backends[snap.config.backend];
  const ctx: BackendContext = { self: { ...snap.self, underlayIP: self.underlayIP }, config: snap.config };
  const device = backend.device(ctx);

  const claims = new Claims();
  for (const c of self.ownBlocks) claims.add(c, `this node (${self.name})`);
  if (device) {
    claims.vtepMacs.set(device.mac, `this node (${self.name})`);
    if (device.address) claims.vtepIps.set(device.address.split('/')[0]!, `this node (${self.name})`);
  }

  const out: Out = { routes: blackholes(self), neighbors: [], fdb: [], peerErrors: [] };
  const seen = new Set<string>();
  for (const p of [...snap.peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (p.name === self.name) continue; // our own TwillNode, as listed by the datastore
    if (seen.has(p.name)) {
      out.peerErrors.push({ peer: p.name, reason: 'listed more than once; only the first entry is used' });
      continue;
    }
    seen.add(p.name);
    addPeer(ctx, self, p, claims, out);
  }

  return {
    ...(device ? { device } : {}),
    routes: sortByCidr(out.routes, (r) => r.dst),
    neighbors: sortByCidr(out.neighbors, (n) => `${n.ip}/32`),
    fdb: out.fdb.sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0)),
    podMTU: backend.podMTU(ctx),
    peerErrors: out.peerErrors,
  };
}
