// The bench's "kernel" path: the topology a Twill lab builds (underlay bridge, two node
// namespaces, one pod per node), wired by hand with `ip`, `bridge` and one `nft -f`, with no Twill
// process anywhere. Pods are wired exactly as Twill wires them (veth with the pod MTU, /32, the
// link-local gateway 169.254.1.1 behind a permanent neighbour to ee:ee:ee:ee:ee:ee, a /32 route
// on the node); vxlan gets a device with the same VNI, port and learning off, one permanent
// neighbour, one FDB entry and one onlink route per peer; host-gw gets plain routes.
//
// nftables: the hand path carries a NAT table equivalent to Twill's natOutgoing (pod→pod keeps its
// source, anything else leaving the pool is masqueraded), because a hand-wired pod network that
// reaches the outside needs one and it puts conntrack on every packet — the same per-packet
// kernel work as Twill's twill-nat. It does NOT copy Twill's twill-policy table (anti-spoofing and
// the NetworkPolicy hooks): that is Twill's own cost, and the bench exists to show it.
//
// The plan is pure (golden-tested); applyHandPlan runs it.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackendName } from '../model/types.js';
import { run } from '../dataplane/kernel/exec.js';
import { applyNft } from '../dataplane/kernel/nft.js';
import { createNetns, deleteNetns, ipBatchInNetns, listNetns, netnsPath } from '../dataplane/kernel/netns.js';
import { labDir, nodeNetns, underlayNetns } from './state.js';
import { createNodeNetns, createUnderlay, nodeUnderlayIp } from './topology.js';
import type { BenchPath } from './bench-twill.js';

/** Outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
const VXLAN_HEADROOM = 50;
const VNI = 4096;
const VXLAN_PORT = 4789;
const GATEWAY = '169.254.1.1';
const GATEWAY_MAC = 'ee:ee:ee:ee:ee:ee';
const POOL = '10.244.0.0/16';

export interface HandPlan {
  lab: string;
  backend: BackendName;
  podMtu: number;
  /** Node namespaces (created on the lab underlay by the lab's own topology code). */
  nodes: { index: number; netns: string; underlayIP: string }[];
  pods: { netns: string; ip: string }[];
  /** `ip -batch` lines per namespace, in order. */
  batches: { netns: string; commands: string[] }[];
  /** `bridge` invocations (FDB entries). */
  bridge: string[][];
  /** The NAT table, per node namespace. */
  nft: string;
  path: BenchPath;
}

const block = (i: number) => `10.244.${i}.0`;
const podIp = (i: number) => `10.244.${i}.1`;
const vtepMacOf = (i: number) => `02:68:61:6e:64:${i.toString(16).padStart(2, '0')}`;
export const handPodNetns = (lab: string, i: number): string => `twl-${lab}-pod-${i}`;

export function handNatScript(): string {
  return [
    'table ip hand-nat {}',
    'delete table ip hand-nat',
    'table ip hand-nat {',
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    `\t\tip saddr ${POOL} ip daddr ${POOL} return`,
    `\t\tip saddr ${POOL} masquerade fully-random`,
    '\t}',
    '}',
    '',
  ].join('\n');
}

/** What to run for a 2-node hand-wired path of `backend`, on an underlay of MTU `underlayMtu`. */
export function planHandPath(lab: string, backend: BackendName, underlayMtu: number): HandPlan {
  const podMtu = backend === 'vxlan' ? underlayMtu - VXLAN_HEADROOM : underlayMtu;
  const nodes = [1, 2].map((index) => ({ index, netns: nodeNetns(lab, `node-${index}`), underlayIP: nodeUnderlayIp(index) }));
  const pods = nodes.map((n) => ({ netns: handPodNetns(lab, n.index), ip: podIp(n.index) }));
  const batches: HandPlan['batches'] = [];
  const bridge: string[][] = [];
  for (const n of nodes) {
    const peer = nodes.find((x) => x !== n)!;
    const pod = pods[n.index - 1]!;
    const veth = `hveth${n.index}`;
    const cmds = [`route add blackhole ${block(n.index)}/26`];
    if (backend === 'vxlan') {
      cmds.push(
        `link add twill0 address ${vtepMacOf(n.index)} mtu ${podMtu} type vxlan id ${VNI} local ${n.underlayIP} dev eth0 dstport ${VXLAN_PORT} nolearning`,
        `addr add ${block(n.index)}/32 dev twill0`,
        'link set twill0 up',
        `neigh replace ${block(peer.index)} lladdr ${vtepMacOf(peer.index)} dev twill0 nud permanent`,
        `route add ${block(peer.index)}/26 via ${block(peer.index)} dev twill0 onlink`,
      );
      bridge.push(['-n', n.netns, 'fdb', 'append', vtepMacOf(peer.index), 'dev', 'twill0', 'dst', peer.underlayIP, 'self', 'permanent']);
    } else {
      cmds.push(`route add ${block(peer.index)}/26 via ${peer.underlayIP} dev eth0`);
    }
    cmds.push(
      `link add ${veth} address ${GATEWAY_MAC} mtu ${podMtu} type veth peer name eth0 netns ${pod.netns} mtu ${podMtu}`,
      `link set ${veth} up`,
      `route add ${pod.ip}/32 dev ${veth} scope link`,
    );
    batches.push({ netns: n.netns, commands: cmds });
    batches.push({
      netns: pod.netns,
      commands: [
        'link set eth0 up',
        `addr add ${pod.ip}/32 dev eth0`,
        `route add ${GATEWAY}/32 dev eth0 scope link`,
        `route add default via ${GATEWAY} dev eth0`,
        `neigh replace ${GATEWAY} lladdr ${GATEWAY_MAC} dev eth0 nud permanent`,
      ],
    });
  }
  return {
    lab,
    backend,
    podMtu,
    nodes,
    pods,
    batches,
    bridge,
    nft: handNatScript(),
    path: { srcPod: pods[0]!.netns, dstPod: pods[1]!.netns, dstPodIp: pods[1]!.ip, srcNode: nodes[0]!.netns, dstNode: nodes[1]!.netns, dstNodeIp: nodes[1]!.underlayIP },
  };
}

/** Builds the hand path. The caller removes it with removeHandPath (also after a failure). */
export async function applyHandPlan(p: HandPlan): Promise<void> {
  const ul = underlayNetns(p.lab);
  await createUnderlay(ul);
  for (const n of p.nodes) {
    await createNodeNetns(ul, `node-${n.index}`, n.netns, n.underlayIP);
    await run('ip', ['netns', 'exec', n.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  }
  for (const pod of p.pods) await createNetns(pod.netns);
  for (const b of p.batches) await ipBatchInNetns(netnsPath(b.netns), b.commands);
  for (const args of p.bridge) await run('bridge', args);
  for (const n of p.nodes) await applyNft(p.nft, { file: join(labDir(p.lab), `hand-nat-node-${n.index}.nft`), netnsPath: netnsPath(n.netns) });
}

/** The MTU of the hand underlay's node-side interface (what Twill's agent reads as underlay MTU). */
export async function handUnderlayMtu(lab: string): Promise<number> {
  await createUnderlay(underlayNetns(lab));
  const ns = nodeNetns(lab, 'node-1');
  await createNodeNetns(underlayNetns(lab), 'node-1', ns, nodeUnderlayIp(1));
  const { stdout } = await run('ip', ['-n', ns, '-j', 'link', 'show', 'eth0']);
  const mtu = (JSON.parse(stdout) as { mtu?: number }[])[0]?.mtu;
  return mtu ?? 1500;
}

/** Removes every namespace of the hand path (and its nft files). Harmless when nothing is there. */
export async function removeHandPath(lab: string): Promise<void> {
  for (const ns of await listNetns()) if (ns.startsWith(`twl-${lab}-`)) await deleteNetns(ns);
  await rm(labDir(lab), { recursive: true, force: true });
}
