// applyRouting: read what the kernel has, plan the difference (plan.ts), apply only that.
// Ownership: twill0 and everything on it; routes with protocol ROUTE_PROTOCOL in the main table,
// except those through a pod's host veth (`twl…`), which belong to the endpoint code.
import { TwillError, describeError } from '../../util/errors.js';
import { tryParseCidr } from '../../util/ip.js';
import { ROUTE_PROTOCOL, VXLAN_DEVICE } from '../kernel/names.js';
import { netlink, type Netlink, type Route } from '../kernel/netlink.js';
import { ownsRoute, planRouting, summarize, describeOp, type ApplySummary, type CurrentDevice, type CurrentRouting, type Op } from './plan.js';
import type { DesiredRouting, RouteSpec } from './types.js';

export interface ApplyRoutingOptions {
  /** Netlink socket of the namespace to program (default: this process's shared socket). */
  nl?: Netlink;
}

async function readDevice(nl: Netlink, names: Map<number, string>): Promise<CurrentDevice | undefined> {
  const link = await nl.getLink(VXLAN_DEVICE);
  if (!link) return undefined;
  const vx = await nl.getVxlan(VXLAN_DEVICE);
  const addrs = await nl.listAddresses(VXLAN_DEVICE);
  return {
    kind: link.kind,
    vni: vx?.vni ?? 0,
    port: vx?.port ?? 0,
    localIp: vx?.localIp ?? '',
    parentIface: vx?.parentIndex === undefined ? undefined : names.get(vx.parentIndex),
    learning: vx?.learning ?? false,
    mtu: link.mtu,
    mac: link.mac,
    up: link.up,
    addresses: addrs.map((a) => a.cidr).filter((c) => tryParseCidr(c)?.family === 4),
  };
}

function toSpec(r: Route, names: Map<number, string>): RouteSpec {
  const dev = r.oif === undefined ? undefined : names.get(r.oif);
  return {
    dst: r.dst,
    type: r.type === 'blackhole' ? 'blackhole' : 'unicast',
    ...(r.gateway ? { gateway: r.gateway } : {}),
    ...(r.type !== 'blackhole' && dev ? { dev } : {}),
    ...(r.onlink ? { onlink: true as const } : {}),
    protocol: r.protocol ?? ROUTE_PROTOCOL,
    // Deleting a route must name its scope, and a link-scope route must not pass for ours.
    ...(r.scope === 'link' ? { scope: 'link' as const } : {}),
  };
}

/** The kernel state routing owns, in the shape compile produces. */
export async function readRouting(nl: Netlink): Promise<CurrentRouting> {
  const names = new Map((await nl.listLinks()).map((l) => [l.index, l.name]));
  const routes: RouteSpec[] = [];
  for (const family of [4, 6] as const) {
    for (const r of await nl.listRoutes({ family, protocol: ROUTE_PROTOCOL, includeBlackhole: true })) {
      const spec = toSpec(r, names);
      if (ownsRoute(spec)) routes.push(spec);
    }
  }
  return {
    device: await readDevice(nl, names),
    routes,
    neighbors: await nl.listNeighbors(VXLAN_DEVICE),
    fdb: await nl.listFdb(VXLAN_DEVICE),
  };
}

async function execute(nl: Netlink, o: Op): Promise<void> {
  switch (o.op) {
    case 'create-device': {
      if (o.deleteFirst) await nl.deleteLink(o.spec.name);
      const parent = await nl.mustGetLink(o.spec.parentIface);
      const { name, vni, port, localIp, mtu, mac } = o.spec;
      await nl.createVxlan({ name, vni, port, localIp, parentIndex: parent.index, mtu, mac });
      await nl.setLink(name, { up: true });
      return;
    }
    case 'set-device':
      return nl.setLink(o.name, {
        ...(o.mtu !== undefined ? { mtu: o.mtu } : {}),
        ...(o.mac !== undefined ? { mac: o.mac } : {}),
        ...(o.up ? { up: true } : {}),
      });
    case 'add-address':
      return nl.addAddress(o.dev, o.cidr);
    case 'del-address':
      return void (await nl.deleteAddress(o.dev, o.cidr));
    case 'put-neighbor':
      return nl.replaceNeighbor(o.neighbor);
    case 'del-neighbor':
      return void (await nl.deleteNeighbor(o.neighbor));
    case 'put-fdb':
      return o.change === 'add' ? nl.appendFdb(o.fdb) : nl.replaceFdb(o.fdb);
    case 'del-fdb':
      return void (await nl.deleteFdb(o.fdb));
    case 'put-route':
      return nl.replaceRoute(o.route);
    case 'del-route':
      return void (await nl.deleteRoute(o.route));
    case 'del-device':
      return void (await nl.deleteLink(o.name));
  }
}

/**
 * Converges the kernel to `desired`, changing only what differs. Every change is attempted even
 * if one fails (a broken peer must not block the others); failures are then thrown together.
 */
export async function applyRouting(desired: DesiredRouting, opts: ApplyRoutingOptions = {}): Promise<ApplySummary> {
  const nl = opts.nl ?? netlink();
  const ops = planRouting(await readRouting(nl), desired);
  const failed: string[] = [];
  for (const o of ops) {
    try {
      await execute(nl, o);
    } catch (e) {
      failed.push(`${describeOp(o)}: ${describeError(e)}`);
    }
  }
  if (failed.length) {
    throw new TwillError('KERNEL', `routing: ${failed.length} of ${ops.length} change(s) failed: ${failed.slice(0, 3).join('; ')}`, {
      details: failed.join('\n'),
    });
  }
  return summarize(ops);
}
