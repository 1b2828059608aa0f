// planRouting: (what the kernel has, what compile wants) → an ordered list of changes. Pure, so
// the ordering rules are unit-tested without root:
//   1. device: create, re-create (only for an immutable attribute) or adjust in place
//   2. neighbours and FDB entries (a route via a VTEP needs them first)
//   3. routes added or replaced in place (replace switches a route atomically, e.g. twill0 → eth0)
//   4. then deletions: routes, neighbours, FDB entries, addresses, and last the device itself.
import { HOST_VETH_PREFIX, ROUTE_PROTOCOL, VXLAN_DEVICE } from '../kernel/names.js';
import type { DesiredRouting, FdbSpec, NeighborSpec, RouteSpec, VxlanDeviceSpec } from './types.js';

/** twill0 as read from the kernel; `parentIface` resolved from the link index. */
export interface CurrentDevice {
  kind: string | undefined;
  vni: number;
  port: number;
  localIp: string;
  parentIface: string | undefined;
  learning: boolean;
  mtu: number;
  mac: string;
  up: boolean;
  /** IPv4 addresses only: the kernel adds an IPv6 link-local we neither own nor touch. */
  addresses: string[];
}

export interface CurrentRouting {
  device: CurrentDevice | undefined;
  /** Routes Twill owns (protocol ROUTE_PROTOCOL, not via a pod's host veth). */
  routes: RouteSpec[];
  neighbors: NeighborSpec[];
  fdb: FdbSpec[];
}

export type Change = 'add' | 'change' | 'remove';

export type Op =
  | { op: 'create-device'; change: 'add' | 'change'; spec: VxlanDeviceSpec; deleteFirst: boolean; why?: string }
  | { op: 'set-device'; change: 'change'; name: string; mtu?: number; mac?: string; up?: true }
  | { op: 'add-address'; change: 'add'; dev: string; cidr: string }
  | { op: 'del-address'; change: 'remove'; dev: string; cidr: string }
  | { op: 'put-neighbor'; change: 'add' | 'change'; neighbor: NeighborSpec }
  | { op: 'del-neighbor'; change: 'remove'; neighbor: NeighborSpec }
  | { op: 'put-fdb'; change: 'add' | 'change'; fdb: FdbSpec }
  | { op: 'del-fdb'; change: 'remove'; fdb: FdbSpec }
  | { op: 'put-route'; change: 'add' | 'change'; route: RouteSpec }
  | { op: 'del-route'; change: 'remove'; route: RouteSpec }
  /** Deleting the device also drops its neighbours and FDB entries (`entries` of them). */
  | { op: 'del-device'; change: 'remove'; name: string; entries: number };

/** Routing owns protocol-ROUTE_PROTOCOL routes except pod routes through a host veth (`twl…`). */
export function ownsRoute(r: RouteSpec): boolean {
  return r.protocol === ROUTE_PROTOCOL && !r.dev?.startsWith(HOST_VETH_PREFIX);
}

/** Why twill0 must be re-created, or undefined when it can be adjusted in place. */
export function immutableMismatch(cur: CurrentDevice, want: VxlanDeviceSpec): string | undefined {
  if (cur.kind !== 'vxlan') return `${want.name} is a ${cur.kind ?? 'non-vxlan'} device`;
  if (cur.vni !== want.vni) return `VNI ${cur.vni} → ${want.vni}`;
  if (cur.port !== want.port) return `port ${cur.port} → ${want.port}`;
  if (cur.localIp !== want.localIp) return `local ${cur.localIp || 'unset'} → ${want.localIp}`;
  if (cur.parentIface !== want.parentIface) return `parent ${cur.parentIface ?? 'unset'} → ${want.parentIface}`;
  if (cur.learning) return 'learning is on';
  return undefined;
}

function planDevice(cur: CurrentDevice | undefined, want: VxlanDeviceSpec): { ops: Op[]; dels: Op[]; fresh: boolean } {
  if (!cur) return { ops: [{ op: 'create-device', change: 'add', spec: want, deleteFirst: false }], dels: [], fresh: true };
  const why = immutableMismatch(cur, want);
  if (why) return { ops: [{ op: 'create-device', change: 'change', spec: want, deleteFirst: true, why }], dels: [], fresh: true };
  const ops: Op[] = [];
  if (cur.mtu !== want.mtu || cur.mac !== want.mac || !cur.up) {
    ops.push({
      op: 'set-device',
      change: 'change',
      name: want.name,
      ...(cur.mtu !== want.mtu ? { mtu: want.mtu } : {}),
      ...(cur.mac !== want.mac ? { mac: want.mac } : {}),
      ...(!cur.up ? { up: true as const } : {}),
    });
  }
  if (want.address && !cur.addresses.includes(want.address)) ops.push({ op: 'add-address', change: 'add', dev: want.name, cidr: want.address });
  const dels: Op[] = cur.addresses.filter((a) => a !== want.address).map((a) => ({ op: 'del-address', change: 'remove', dev: want.name, cidr: a }));
  return { ops, dels, fresh: false };
}

function routeKey(r: RouteSpec): string {
  return `${r.type}|${r.gateway ?? ''}|${r.dev ?? ''}|${r.onlink ? 'onlink' : ''}|${r.scope ?? ''}`;
}

function planRoutes(cur: RouteSpec[], want: RouteSpec[]): { puts: Op[]; dels: Op[] } {
  const byDst = new Map<string, RouteSpec[]>();
  for (const r of cur) byDst.set(r.dst, [...(byDst.get(r.dst) ?? []), r]);
  const puts: Op[] = [];
  const dels: Op[] = [];
  const wanted = new Set<string>();
  for (const w of want) {
    wanted.add(w.dst);
    const have = byDst.get(w.dst) ?? [];
    const same = have.find((h) => routeKey(h) === routeKey(w));
    if (!same) puts.push({ op: 'put-route', change: have.length ? 'change' : 'add', route: w });
    // Duplicates for one destination: replace rewrites one of them, the others must go.
    const extra = same ? have.filter((h) => h !== same) : have.slice(1);
    for (const h of extra) dels.push({ op: 'del-route', change: 'remove', route: h });
  }
  for (const r of cur) if (!wanted.has(r.dst)) dels.push({ op: 'del-route', change: 'remove', route: r });
  return { puts, dels };
}

function planNeighbors(cur: NeighborSpec[], want: NeighborSpec[]): { puts: Op[]; dels: Op[] } {
  const have = new Map(cur.map((n) => [n.ip, n]));
  const puts: Op[] = [];
  for (const w of want) {
    const h = have.get(w.ip);
    if (!h) puts.push({ op: 'put-neighbor', change: 'add', neighbor: w });
    else if (h.mac !== w.mac) puts.push({ op: 'put-neighbor', change: 'change', neighbor: w });
  }
  const wanted = new Set(want.map((w) => w.ip));
  const dels: Op[] = cur.filter((c) => !wanted.has(c.ip)).map((n) => ({ op: 'del-neighbor', change: 'remove', neighbor: n }));
  return { puts, dels };
}

function planFdb(cur: FdbSpec[], want: FdbSpec[]): { puts: Op[]; dels: Op[] } {
  const pair = (f: FdbSpec): string => `${f.mac}>${f.dst}`;
  const havePairs = new Set(cur.map(pair));
  const haveMacs = new Set(cur.map((f) => f.mac));
  // Replacing rewrites the MAC's remote in place, so traffic never goes to two VTEPs at once.
  const puts: Op[] = want
    .filter((w) => !havePairs.has(pair(w)))
    .map((w) => ({ op: 'put-fdb', change: haveMacs.has(w.mac) ? 'change' : 'add', fdb: w }));
  const wantPairs = new Set(want.map(pair));
  const dels: Op[] = cur.filter((c) => !wantPairs.has(pair(c))).map((f) => ({ op: 'del-fdb', change: 'remove', fdb: f }));
  return { puts, dels };
}

export function planRouting(cur: CurrentRouting, want: DesiredRouting): Op[] {
  const ops: Op[] = [];
  let { routes, neighbors, fdb } = cur;
  let dropDevice: Op | undefined;
  let dropAddresses: Op[] = [];
  if (want.device) {
    const d = planDevice(cur.device, want.device);
    ops.push(...d.ops);
    dropAddresses = d.dels;
    if (d.fresh) {
      // A new device starts empty: everything that lived on the old one is re-added.
      routes = routes.filter((r) => r.dev !== want.device!.name);
      neighbors = [];
      fdb = [];
      if (want.device.address) ops.push({ op: 'add-address', change: 'add', dev: want.device.name, cidr: want.device.address });
    }
  } else if (cur.device) {
    dropDevice = { op: 'del-device', change: 'remove', name: VXLAN_DEVICE, entries: neighbors.length + fdb.length };
    neighbors = [];
    fdb = [];
  }
  const n = planNeighbors(neighbors, want.neighbors);
  const f = planFdb(fdb, want.fdb);
  const r = planRoutes(routes, want.routes);
  ops.push(...n.puts, ...f.puts, ...r.puts, ...r.dels, ...n.dels, ...f.dels, ...dropAddresses);
  if (dropDevice) ops.push(dropDevice);
  return ops;
}

export interface ApplySummary {
  added: number;
  removed: number;
  changed: number;
  /** One line per change, for the agent's debug log and for tests. */
  actions: string[];
}

export function describeOp(o: Op): string {
  switch (o.op) {
    case 'create-device':
      return `${o.deleteFirst ? `re-create (${o.why})` : 'create'} ${o.spec.name} vxlan vni ${o.spec.vni} port ${o.spec.port} local ${o.spec.localIp} dev ${o.spec.parentIface} mtu ${o.spec.mtu} mac ${o.spec.mac}`;
    case 'set-device':
      return `set ${o.name}${o.mtu !== undefined ? ` mtu ${o.mtu}` : ''}${o.mac !== undefined ? ` mac ${o.mac}` : ''}${o.up ? ' up' : ''}`;
    case 'add-address':
    case 'del-address':
      return `${o.op === 'add-address' ? 'add' : 'delete'} address ${o.cidr} dev ${o.dev}`;
    case 'put-neighbor':
    case 'del-neighbor':
      return `${o.change} neighbour ${o.neighbor.ip} lladdr ${o.neighbor.mac} dev ${o.neighbor.dev}`;
    case 'put-fdb':
    case 'del-fdb':
      return `${o.change} fdb ${o.fdb.mac} dst ${o.fdb.dst} dev ${o.fdb.dev}`;
    case 'put-route':
    case 'del-route':
      return `${o.change} route ${formatRoute(o.route)}`;
    case 'del-device':
      return `delete ${o.name} (and its ${o.entries} neighbour/FDB entries)`;
  }
}

export function formatRoute(r: RouteSpec): string {
  if (r.type === 'blackhole') return `blackhole ${r.dst} proto ${r.protocol}`;
  return `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}${r.onlink ? ' onlink' : ''}${r.scope ? ` scope ${r.scope}` : ''} proto ${r.protocol}`;
}

export function summarize(ops: Op[]): ApplySummary {
  const s: ApplySummary = { added: 0, removed: 0, changed: 0, actions: ops.map(describeOp) };
  for (const o of ops) {
    if (o.change === 'add') s.added++;
    else if (o.change === 'change') s.changed++;
    else s.removed += 1 + (o.op === 'del-device' ? o.entries : 0);
  }
  return s;
}
