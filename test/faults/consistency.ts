// The full consistency check the fault suite runs after every fault on a standalone node: the
// kernel (host veths, /32 routes), the agent's records (attachments, address records) and what
// the runtime believes (its live pods and their addresses) must agree exactly.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/dataplane/kernel/exec.js';
import { hostVethName } from '../../src/dataplane/kernel/names.js';
import type { NodeHarness } from '../support/node-harness.js';

export interface LivePod {
  containerId: string;
  name: string;
  ip: string;
}

async function nodeJson<T>(node: NodeHarness, args: string[]): Promise<T> {
  return JSON.parse((await run('ip', ['-n', node.netns, '-j', ...args])).stdout || '[]') as T;
}

/** Every disagreement found (empty: consistent). */
export async function inconsistencies(node: NodeHarness, live: Map<string, LivePod>): Promise<string[]> {
  const out: string[] = [];
  const wantVeths = new Set([...live.values()].map((p) => hostVethName(p.containerId, 'eth0')));
  const veths = new Set((await nodeJson<{ ifname: string }[]>(node, ['link', 'show', 'type', 'veth'])).map((l) => l.ifname).filter((n) => n.startsWith('twl')));
  for (const v of wantVeths) if (!veths.has(v)) out.push(`kernel: host veth ${v} of a live pod is missing`);
  for (const v of veths) if (!wantVeths.has(v)) out.push(`kernel: host veth ${v} belongs to no live pod`);
  const routes = (await nodeJson<{ dst: string; dev: string }[]>(node, ['route', 'show', 'proto', '116'])).map((r) => `${r.dst} ${r.dev}`).sort();
  const wantRoutes = [...live.values()].map((p) => `${p.ip} ${hostVethName(p.containerId, 'eth0')}`).sort();
  if (routes.join() !== wantRoutes.join()) out.push(`kernel: routes ${routes.join(',')} != live ${wantRoutes.join(',')}`);
  const recs = (await readdir(join(node.stateDir(), 'ipam'))).filter((f) => /^\d/.test(f) && !f.includes('.tmp')).sort();
  const ips = [...live.values()].map((p) => p.ip).sort();
  if (recs.join() !== ips.join()) out.push(`records: address records ${recs.join(',')} != live ${ips.join(',')}`);
  if (new Set(ips).size !== ips.length) out.push(`runtime: an address was handed out twice: ${ips.join(',')}`);
  const atts = (await readdir(join(node.stateDir(), 'attachments'))).filter((f) => f.endsWith('.json')).sort();
  const wantAtts = [...live.values()].map((p) => `${p.containerId}_eth0.json`).sort();
  if (atts.join() !== wantAtts.join()) out.push(`records: attachments ${atts.join(',')} != live ${wantAtts.join(',')}`);
  const st = JSON.parse(await node.status('json')) as { attachments: { id: string; ips: string[] }[] };
  const agent = st.attachments.map((a) => `${a.id}=${a.ips.join(',')}`).sort();
  const wantAgent = [...live.values()].map((p) => `${p.containerId}/eth0=${p.ip}`).sort();
  if (agent.join() !== wantAgent.join()) out.push(`agent: attachments ${agent.join(' ')} != live ${wantAgent.join(' ')}`);
  for (const p of live.values()) if (!(await node.ping(node.netns, p.ip))) out.push(`connectivity: live pod ${p.name} (${p.ip}) unreachable`);
  return out;
}

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
