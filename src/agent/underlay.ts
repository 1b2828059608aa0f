// The node's underlay: the interface other nodes reach it through, its address and subnet, its
// MTU. Given by --underlay-iface, or the interface of the default route.
import { netlink } from '../dataplane/kernel/netlink.js';
import { TwillError } from '../util/errors.js';
import { formatCidr, formatIp, parseCidr } from '../util/ip.js';

export interface Underlay {
  iface: string;
  ip: string;
  cidr: string;
  mtu: number;
}

export async function detectUnderlay(iface?: string): Promise<Underlay> {
  const nl = netlink();
  let name = iface;
  if (!name) {
    const def = (await nl.listRoutes({})).find((r) => r.dst === '0.0.0.0/0' && r.oif !== undefined);
    const link = def?.oif !== undefined ? (await nl.listLinks()).find((l) => l.index === def.oif) : undefined;
    if (!link) throw new TwillError('CONFIG_INVALID', 'cannot find the underlay interface: there is no default route', { details: 'pass --underlay-iface' });
    name = link.name;
  }
  const link = await nl.getLink(name);
  if (!link) throw new TwillError('CONFIG_INVALID', `underlay interface ${name} does not exist`);
  const addr = (await nl.listAddresses(name)).map((a) => parseCidr(a.cidr)).find((c) => c.family === 4);
  if (!addr) throw new TwillError('CONFIG_INVALID', `underlay interface ${name} has no IPv4 address`);
  return { iface: name, ip: formatIp({ family: 4, value: addr.addr }), cidr: formatCidr(addr), mtu: link.mtu };
}
