// The lab's wires. One underlay namespace holds a bridge (the node's shared L2 segment, address
// 192.0.2.1/24, which is also every node's default gateway and stands for "outside the cluster");
// each node is a namespace with `eth0` (192.0.2.10+i) plugged into that bridge by a veth pair.
import { createNetns, deleteNetns, ipBatchInNetns, netnsExists } from '../dataplane/kernel/netns.js';
import { run } from '../dataplane/kernel/exec.js';

export const UNDERLAY_BRIDGE = 'br0';
export const UNDERLAY_GATEWAY = '192.0.2.1';
export const UNDERLAY_PREFIX = 24;

export function nodeUnderlayIp(index: number): string {
  if (index < 1 || index > 200) throw new RangeError('a lab has at most 200 nodes');
  return `192.0.2.${10 + index}`;
}

export async function createUnderlay(netns: string): Promise<void> {
  const fresh = !netnsExists(netns);
  await createNetns(netns);
  if (!fresh) return;
  await ipBatchInNetns(`/run/netns/${netns}`, [
    `link add ${UNDERLAY_BRIDGE} type bridge`,
    `addr add ${UNDERLAY_GATEWAY}/${UNDERLAY_PREFIX} dev ${UNDERLAY_BRIDGE}`,
    `link set ${UNDERLAY_BRIDGE} up`,
  ]);
  await run('ip', ['netns', 'exec', netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
}

/** A node namespace wired to the underlay bridge. Idempotent. */
export async function createNodeNetns(underlay: string, node: string, netns: string, ip: string): Promise<void> {
  await createNetns(netns);
  const has = await run('ip', ['-n', netns, 'link', 'show', 'eth0']).then(() => true, () => false);
  if (has) return;
  await run('ip', ['-n', underlay, 'link', 'add', node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  await ipBatchInNetns(`/run/netns/${underlay}`, [`link set ${node} master ${UNDERLAY_BRIDGE}`, `link set ${node} up`]);
  await ipBatchInNetns(`/run/netns/${netns}`, [
    `addr add ${ip}/${UNDERLAY_PREFIX} dev eth0`,
    'link set eth0 up',
    `route add default via ${UNDERLAY_GATEWAY} dev eth0`,
  ]);
}

export async function deleteNodeNetns(underlay: string, node: string, netns: string): Promise<void> {
  await deleteNetns(netns);
  // why: deleting the node namespace above already destroyed this veth pair; this only covers a half-made node
  if (netnsExists(underlay)) await run('ip', ['-n', underlay, 'link', 'del', node]).catch(() => undefined);
}
