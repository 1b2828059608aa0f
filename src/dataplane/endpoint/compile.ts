// Pod interface plumbing, compiled: (attachment, addresses, MTU) → the exact kernel objects.
// Pure: no clock, no I/O, so the plan is golden-tested and CHECK can compare against it.
//
// The scheme (documented in docs/pod-networking.md):
//   pod:  IFNAME with ADDR/32 (ADDR/128), a link-scope route to the link-local gateway
//         169.254.1.1, a default route via it, and a permanent neighbour entry mapping the
//         gateway to ee:ee:ee:ee:ee:ee. No ARP for the gateway, no proxy-ARP on the node.
//   node: a `twl…` veth whose MAC is ee:ee:ee:ee:ee:ee and a /32 route to the pod through it.
import { createHash } from 'node:crypto';
import type { CniResult } from '../../cni/types.js';
import { hostCidr, parseIp } from '../../util/ip.js';
import { HOST_VETH_MAC, POD_GATEWAY_V4, POD_GATEWAY_V6, ROUTE_PROTOCOL, hostVethName } from '../kernel/names.js';
import type { Route } from '../kernel/netlink.js';

export interface EndpointSpec {
  containerId: string;
  ifname: string;
  /** CNI_NETNS: path of the pod's network namespace. */
  netns: string;
  /** The pod's addresses (one per family). */
  ips: string[];
  mtu: number;
}

export interface EndpointPlan {
  spec: EndpointSpec;
  hostIface: string;
  hostMac: string;
  podMac: string;
  /** `ip -batch` lines run inside the pod namespace after the veth exists. */
  podCommands: string[];
  /** Routes in the node namespace. */
  hostRoutes: Route[];
  /** The CNI result (1.1.0 shape) this attachment produces. */
  result: CniResult;
}

/** A stable, locally administered unicast MAC for the pod side (so the plan is fully known). */
export function podMac(containerId: string, ifname: string): string {
  const h = createHash('sha256').update(`mac/${containerId}/${ifname}`).digest();
  const b = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function compileEndpoint(spec: EndpointSpec): EndpointPlan {
  const hostIface = hostVethName(spec.containerId, spec.ifname);
  const mac = podMac(spec.containerId, spec.ifname);
  const dev = spec.ifname;
  const podCommands: string[] = [];
  const hostRoutes: Route[] = [];
  const ips: NonNullable<CniResult['ips']> = [];
  podCommands.push(`link set dev ${dev} up`);
  const routes: NonNullable<CniResult['routes']> = [];

  for (const ip of spec.ips) {
    const v6 = parseIp(ip).family === 6;
    const gw = v6 ? POD_GATEWAY_V6 : POD_GATEWAY_V4;
    const cidr = hostCidr(ip);
    // `ip -batch` takes no per-line options (no "-6"): the family follows from the addresses.
    podCommands.push(`addr add ${cidr} dev ${dev}${v6 ? ' nodad' : ''}`);
    if (!v6) podCommands.push(`route add ${gw}/32 dev ${dev} scope link`);
    podCommands.push(`route add default via ${gw} dev ${dev}`);
    podCommands.push(`neigh replace ${gw} lladdr ${HOST_VETH_MAC} dev ${dev} nud permanent`);
    hostRoutes.push({ dst: cidr, dev: hostIface, scope: 'link', protocol: ROUTE_PROTOCOL });
    ips.push({ address: cidr, gateway: gw, interface: 1 });
    routes.push({ dst: v6 ? '::/0' : '0.0.0.0/0', gw });
  }

  return {
    spec,
    hostIface,
    hostMac: HOST_VETH_MAC,
    podMac: mac,
    podCommands,
    hostRoutes,
    result: {
      cniVersion: '1.1.0',
      interfaces: [
        { name: hostIface, mac: HOST_VETH_MAC, mtu: spec.mtu },
        { name: dev, mac, mtu: spec.mtu, sandbox: spec.netns },
      ],
      ips,
      routes,
      dns: {},
    },
  };
}
