// The node's underlay: the interface other nodes reach it through, its address and subnet, its
// MTU. Given by --underlay-iface, or the interface holding a given address (the Kubernetes Node's
// InternalIP), or the interface of the default route.
import { netlink } from '../dataplane/kernel/netlink.js';
import { TwillError } from '../util/errors.js';
import { formatCidr, formatIp, parseCidr } from '../util/ip.js';

export interface Underlay {
  iface: string;
  ip: string;
  cidr: string;
  mtu: number;
}

export async function detectUnderlay(iface?: string, address?: string): Promise<Underlay> {
  const nl = netlink();
  let name = iface;
  if (!name && address) {
    for (const l of await nl.listLinks()) {
      if ((await nl.listAddresses(l.name)).some((a) => a.cidr.split('/')[0] === address)) {
        name = l.name;
        break;
      }
    }
    if (!name) throw new TwillError('CONFIG_INVALID', `no interface holds the Node's InternalIP ${address}`, { details: 'pass --underlay-iface' });
  }
  if (!name) {
    const def = (await nl.listRoutes({})).find((r) => r.dst === '0.0.0.0/0' && r.oif !== undefined);
    const link = def?.oif !== undefined ? (await nl.listLinks()).find((l) => l.index === def.oif) : undefined;
    if (!link) throw new TwillError('CONFIG_INVALID', 'cannot find the underlay interface: there is no default route', { details: 'pass --underlay-iface' });
    name = link.name;
  }
  const link = await nl.getLink(name);
  if (!link) throw new TwillError('CONFIG_INVALID', `underlay interface ${name} does not exist`);
  const addrs = (await nl.listAddresses(name)).map((a) => parseCidr(a.cidr)).filter((c) => c.family === 4);
  const addr = addrs.find((c) => address !== undefined && formatIp({ family: 4, value: c.addr }) === address) ?? addrs[0];
  if (!addr) throw new TwillError('CONFIG_INVALID', `underlay interface ${name} has no IPv4 address`);
  return { iface: name, ip: formatIp({ family: 4, value: addr.addr }), cidr: formatCidr(addr), mtu: link.mtu };
}
