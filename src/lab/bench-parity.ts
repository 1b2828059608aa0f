// Is the hand path really the same datapath as Twill's? Compares, device by device, what decides
// per-packet work: MTU, qdisc, queue counts, GSO/GRO/TSO limits, flags and the link-kind data
// (VXLAN VNI, port, learning, checksums, TTL). (Offload feature bits would need ethtool, which the
// machine may lack; both paths create their devices through rtnetlink with kernel defaults and
// neither changes features afterwards.)
import { run } from '../dataplane/kernel/exec.js';
import { nftListJson, netnsPath } from '../dataplane/kernel/index.js';
import type { BackendName } from '../model/types.js';
import type { BenchPath } from './bench-twill.js';

/** `ip -d -j link` fields that shape the datapath; names, indexes and addresses are left out. */
const FIELDS = ['mtu', 'qdisc', 'txqlen', 'flags', 'num_tx_queues', 'num_rx_queues', 'gso_max_size', 'gso_max_segs', 'tso_max_size', 'tso_max_segs', 'gro_max_size', 'gro_ipv4_max_size', 'gso_ipv4_max_size', 'xdp'] as const;

export type LinkJson = Record<string, unknown> & { ifindex?: number; link_index?: number; linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> } };

const show = (v: unknown): string => (v === undefined ? '(none)' : JSON.stringify(v));

/** Differences between the same device on the two paths, one line each. Pure. */
export function linkDiffs(label: string, twill: LinkJson | undefined, hand: LinkJson | undefined): string[] {
  if (!twill || !hand) return twill === hand ? [] : [`${label}: present on ${twill ? 'twill' : 'kernel'} path only`];
  const out: string[] = [];
  for (const f of FIELDS) {
    if (JSON.stringify(twill[f]) !== JSON.stringify(hand[f])) out.push(`${label} ${f}: twill ${show(twill[f])}, kernel ${show(hand[f])}`);
  }
  const ti = twill.linkinfo ?? {};
  const hi = hand.linkinfo ?? {};
  if (ti.info_kind !== hi.info_kind) out.push(`${label} kind: twill ${show(ti.info_kind)}, kernel ${show(hi.info_kind)}`);
  const keys = new Set([...Object.keys(ti.info_data ?? {}), ...Object.keys(hi.info_data ?? {})]);
  for (const k of [...keys].sort()) {
    const a = ti.info_data?.[k];
    const b = hi.info_data?.[k];
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${label} ${ti.info_kind ?? 'link'} ${k}: twill ${show(a)}, kernel ${show(b)}`);
  }
  return out;
}

async function links(ns: string): Promise<LinkJson[]> {
  const { stdout } = await run('ip', ['-n', ns, '-d', '-j', 'link', 'show']);
  return JSON.parse(stdout || '[]') as LinkJson[];
}

/** The devices of one path: each pod's eth0, its host-side veth, the nodes' eth0 and twill0. */
async function devices(p: BenchPath): Promise<Map<string, LinkJson | undefined>> {
  const out = new Map<string, LinkJson | undefined>();
  for (const [side, podNs, nodeNs] of [['src', p.srcPod, p.srcNode], ['dst', p.dstPod, p.dstNode]] as const) {
    const podEth = (await links(podNs)).find((l) => l.ifname === 'eth0');
    const nodeLinks = await links(nodeNs);
    out.set(`${side} pod eth0`, podEth);
    out.set(`${side} host veth`, nodeLinks.find((l) => l.ifindex === podEth?.link_index && l.linkinfo?.info_kind === 'veth'));
    out.set(`${side} node eth0`, nodeLinks.find((l) => l.ifname === 'eth0'));
    out.set(`${side} node twill0`, nodeLinks.find((l) => l.ifname === 'twill0'));
  }
  return out;
}

export async function nftTables(ns: string): Promise<string[]> {
  const j = (await nftListJson(['tables'], { netnsPath: netnsPath(ns) })) as { nftables?: { table?: { family: string; name: string } }[] } | undefined;
  return (j?.nftables ?? []).flatMap((x) => (x.table ? [`${x.table.family} ${x.table.name}`] : [])).sort();
}

export interface Parity {
  differences: string[];
  nftables: { twill: string[]; kernel: string[] };
}

export async function compareParity(twill: BenchPath, hand: BenchPath, backend: BackendName): Promise<Parity> {
  const t = await devices(twill);
  const h = await devices(hand);
  const differences: string[] = [];
  for (const [label, dev] of t) {
    if (backend !== 'vxlan' && label.endsWith('twill0') && !dev && !h.get(label)) continue;
    differences.push(...linkDiffs(label, dev, h.get(label)));
  }
  return { differences, nftables: { twill: await nftTables(twill.srcNode), kernel: await nftTables(hand.srcNode) } };
}
