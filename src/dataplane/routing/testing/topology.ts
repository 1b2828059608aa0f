// The kernel tests' world, all inside namespaces the test creates (never the root namespace):
//
//   segment A 192.0.2.0/25 (bridge brA in UL)          segment B 192.0.2.128/25 (bridge brB in UL)
//     UL itself 192.0.2.2 ("outside" the pool)           node-c 192.0.2.139  pods 10.244.3.0/26
//     node-a 192.0.2.11  pods 10.244.1.0/26      RT: router 192.0.2.1 ↔ 192.0.2.129
//     node-b 192.0.2.12  pods 10.244.2.0/26
//
// Pods are wired by hand the way the endpoint code will do it: IP/32 on eth0, gateway 169.254.1.1
// with a permanent neighbour to the host veth's fixed MAC; the node has a /32 route (proto 116)
// via the host veth `twl…`.
import { HOST_VETH_MAC, POD_GATEWAY_V4, ROUTE_PROTOCOL, hostVethName } from '../../kernel/names.js';
import { ipBatchInNetns } from '../../kernel/netns.js';
import { run } from '../../kernel/exec.js';
import type { TestScope } from '../../../../test/support/scope.js';

export interface Ns {
  name: string;
  path: string;
}

export interface PodSpec {
  name: string;
  ip: string;
}

export interface NodeSpec {
  name: string;
  ip: string;
  cidr: string;
  gateway: string;
  /** The bridge in UL this node is plugged into. */
  segment: 'brA' | 'brB';
  block: string;
  pods: PodSpec[];
}

export const NODES: NodeSpec[] = [
  { name: 'node-a', ip: '192.0.2.11', cidr: '192.0.2.0/25', gateway: '192.0.2.1', segment: 'brA', block: '10.244.1.0/26', pods: [{ name: 'a1', ip: '10.244.1.10' }, { name: 'a2', ip: '10.244.1.11' }] },
  { name: 'node-b', ip: '192.0.2.12', cidr: '192.0.2.0/25', gateway: '192.0.2.1', segment: 'brA', block: '10.244.2.0/26', pods: [{ name: 'b1', ip: '10.244.2.10' }] },
  { name: 'node-c', ip: '192.0.2.139', cidr: '192.0.2.128/25', gateway: '192.0.2.129', segment: 'brB', block: '10.244.3.0/26', pods: [{ name: 'c1', ip: '10.244.3.10' }] },
];

export const OUTSIDE_IP = '192.0.2.2';
export const UNDERLAY_MTU = 1500;
const POD_MTU = 1450;

export interface World {
  ul: Ns;
  rt: Ns;
  nodes: Map<string, Ns>;
  pods: Map<string, Ns>;
  scratch: string;
}

async function sysctlIn(ns: Ns, kv: string): Promise<void> {
  await run('ip', ['netns', 'exec', ns.name, 'sysctl', '-qw', kv]);
}

async function wirePod(scope: TestScope, world: World, node: Ns, pod: PodSpec): Promise<void> {
  const p = await scope.netns('twr-p-');
  world.pods.set(pod.name, p);
  const host = hostVethName(`routing-test-${pod.name}`, 'eth0');
  await ipBatchInNetns(
    node.path,
    [
      `link add ${host} mtu ${POD_MTU} address ${HOST_VETH_MAC} type veth peer name eth0 mtu ${POD_MTU} netns ${p.name}`,
      `link set ${host} up`,
    ]);
  await ipBatchInNetns(
    p.path,
    [
      `addr add ${pod.ip}/32 dev eth0`,
      'link set eth0 up',
      `route add ${POD_GATEWAY_V4} dev eth0 scope link`,
      `route add default via ${POD_GATEWAY_V4} dev eth0`,
      `neigh add ${POD_GATEWAY_V4} lladdr ${HOST_VETH_MAC} dev eth0 nud permanent`,
    ]);
  await ipBatchInNetns(node.path, [`route add ${pod.ip}/32 dev ${host} proto ${ROUTE_PROTOCOL} scope link`]);
}

/** Builds the whole world; every namespace is registered with `scope` for removal. */
export async function buildWorld(scope: TestScope): Promise<World> {
  const scratch = await scope.tmpdir('twill-routing-');
  const world: World = { ul: await scope.netns('twr-ul-'), rt: await scope.netns('twr-rt-'), nodes: new Map(), pods: new Map(), scratch };
  const { ul, rt } = world;
  await ipBatchInNetns(
    ul.path,
    [
      'link add brA type bridge',
      'link add brB type bridge',
      'link set brA up',
      'link set brB up',
      `addr add ${OUTSIDE_IP}/25 dev brA`,
      // Segment B through the router, but no route to the pool: only NAT makes pods answerable.
      'route add 192.0.2.128/25 via 192.0.2.1',
    ]);
  await ipBatchInNetns(
    rt.path,
    [
      `link add ra type veth peer name ra netns ${ul.name}`,
      `link add rb type veth peer name rb netns ${ul.name}`,
      'addr add 192.0.2.1/25 dev ra',
      'addr add 192.0.2.129/25 dev rb',
      'link set ra up',
      'link set rb up',
    ]);
  await sysctlIn(rt, 'net.ipv4.ip_forward=1');
  const ports = ['link set ra master brA', 'link set rb master brB', 'link set ra up', 'link set rb up'];
  for (const [i, spec] of NODES.entries()) {
    const node = await scope.netns('twr-n-');
    world.nodes.set(spec.name, node);
    const port = `n${i}`;
    await ipBatchInNetns(
      node.path,
      [
        `link add eth0 mtu ${UNDERLAY_MTU} type veth peer name ${port} netns ${ul.name}`,
        `addr add ${spec.ip}/${spec.cidr.split('/')[1]} dev eth0`,
        'link set eth0 up',
        `route add default via ${spec.gateway}`,
      ]);
    await sysctlIn(node, 'net.ipv4.ip_forward=1');
    ports.push(`link set ${port} master ${spec.segment}`, `link set ${port} up`);
  }
  await ipBatchInNetns(ul.path, ports);
  for (const spec of NODES) {
    for (const pod of spec.pods) await wirePod(scope, world, world.nodes.get(spec.name)!, pod);
  }
  return world;
}
