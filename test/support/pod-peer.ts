// A node namespace with one local pod behind a Twill-named host veth and one peer behind a veth
// of another name, both routed through the node (forwarding on): the shape the flow-record kernel
// tests need to tell pod connections from the rest. Addresses: the pod `${net}.0.2` (node side
// `${net}.0.1`), the peer `${net}.1.2` (node side `${net}.1.1`). The scope removes the namespaces.
import { execFileSync } from 'node:child_process';
import { HOST_VETH_PREFIX } from '../../src/dataplane/kernel/names.js';
import type { TestScope } from './scope.js';

/** Runs a shell script in a network namespace (by path), failing on the first failing command. */
export const sh = (ns: string, cmd: string): string => execFileSync('nsenter', [`--net=${ns}`, '--', 'sh', '-ec', cmd], { encoding: 'utf8' });

export interface PodPeer {
  node: string;
  pod: string;
  peer: string;
  /** The pod's host-side veth (Twill's prefix). */
  veth: string;
}

/** `tag` names the namespaces and the veth; `net` is the first two octets, e.g. '10.98'. */
export async function podPeerNode(scope: TestScope, tag: string, net: string): Promise<PodPeer> {
  const node = (await scope.netns(`fl-${tag}-node-`)).path;
  const { name: podName, path: pod } = await scope.netns(`fl-${tag}-pod-`);
  const { name: peerName, path: peer } = await scope.netns(`fl-${tag}-peer-`);
  const veth = `${HOST_VETH_PREFIX}${tag}0`;
  sh(node, [
    'ip link set lo up',
    `ip link add ${veth} type veth peer name eth0 netns ${podName}`,
    `ip link add other0 type veth peer name eth0 netns ${peerName}`,
    `ip addr add ${net}.0.1/24 dev ${veth}`, `ip link set ${veth} up`,
    `ip addr add ${net}.1.1/24 dev other0`, 'ip link set other0 up',
    'echo 1 > /proc/sys/net/ipv4/ip_forward',
  ].join('\n'));
  sh(pod, `ip link set lo up; ip addr add ${net}.0.2/24 dev eth0; ip link set eth0 up; ip route add default via ${net}.0.1`);
  sh(peer, `ip link set lo up; ip addr add ${net}.1.2/24 dev eth0; ip link set eth0 up; ip route add default via ${net}.1.1`);
  return { node, pod, peer, veth };
}
