// Pod MTU: the MTU of the interface holding the default route (the underlay), minus what the
// routing backend adds per packet (VXLAN: 50 bytes), so pods never send frames that must be
// fragmented or dropped on the way.
import { netlink } from '../dataplane/kernel/netlink.js';

export async function underlayMtu(): Promise<{ iface: string | undefined; mtu: number }> {
  const nl = netlink();
  const def = (await nl.listRoutes({})).find((r) => r.dst === '0.0.0.0/0' && r.oif !== undefined);
  if (def?.oif !== undefined) {
    const l = (await nl.listLinks()).find((x) => x.index === def.oif);
    if (l) return { iface: l.name, mtu: l.mtu };
  }
  return { iface: undefined, mtu: 1500 };
}

export async function defaultPodMtu(overhead: number): Promise<number> {
  return (await underlayMtu()).mtu - overhead;
}
