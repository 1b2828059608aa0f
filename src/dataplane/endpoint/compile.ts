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
  /** What the pod's namespace holds besides the interface itself, applied once the veth exists. */
  pod: PodSide;
  /** Routes in the node namespace. */
  hostRoutes: Route[];
  /** The CNI result (1.1.0 shape) this attachment produces. */
  result: CniResult;
}

/**
 * The pod side, in the order it is applied: the interface up, its addresses, routes (the
 * gateway's link-scope route before the default route through it), the gateway's neighbour entry.
 */
export interface PodSide {
  ifname: string;
  addresses: { cidr: string; nodad?: true }[];
  routes: { dst: string; gateway?: string; scope?: 'link' }[];
  neighbors: { ip: string; mac: string }[];
}

/**
 * The same pod side as `ip -batch` lines, for when the agent cannot enter namespaces itself
 * (setns.ts). `ip -batch` takes no per-line options (no "-6"): the family follows from the addresses.
 */
export function podBatch(pod: PodSide): string[] {
  const dev = pod.ifname;
  return [
    `link set dev ${dev} up`,
    ...pod.addresses.map((a) => `addr add ${a.cidr} dev ${dev}${a.nodad ? ' nodad' : ''}`),
    ...pod.routes.map((r) => `route add ${r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${dev}${r.scope ? ` scope ${r.scope}` : ''}`),
    ...pod.neighbors.map((n) => `neigh replace ${n.ip} lladdr ${n.mac} dev ${dev} nud permanent`),
  ];
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
  const pod: PodSide = { ifname: dev, addresses: [], routes: [], neighbors: [] };
  const hostRoutes: Route[] = [];
  const ips: NonNullable<CniResult['ips']> = [];
  const routes: NonNullable<CniResult['routes']> = [];

  for (const ip of spec.ips) {
    const v6 = parseIp(ip).family === 6;
    const gw = v6 ? POD_GATEWAY_V6 : POD_GATEWAY_V4;
    const cidr = hostCidr(ip);
    pod.addresses.push(v6 ? { cidr, nodad: true } : { cidr });
    // An IPv4 gateway outside the pod's /32 needs a route of its own; fe80::1 is on-link already.
    if (!v6) pod.routes.push({ dst: `${gw}/32`, scope: 'link' });
    pod.routes.push({ dst: v6 ? '::/0' : '0.0.0.0/0', gateway: gw });
    pod.neighbors.push({ ip: gw, mac: HOST_VETH_MAC });
    hostRoutes.push({ dst: cidr, dev: hostIface, scope: 'link', protocol: ROUTE_PROTOCOL });
    ips.push({ address: cidr, gateway: gw, interface: 1 });
    routes.push({ dst: v6 ? '::/0' : '0.0.0.0/0', gw });
  }

  return {
    spec,
    hostIface,
    hostMac: HOST_VETH_MAC,
    podMac: mac,
    pod,
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
