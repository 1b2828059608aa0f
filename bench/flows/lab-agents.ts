// What bench/flows' two programs (main.ts, cost.ts) share about their 2-node labs: the two pods
// they place (src on node-1, dst on node-2) and reading an agent's process from /proc.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeDir } from '../../src/lab/state.js';

/** The src and dst pods; `dstPorts` are the ports dst's container declares. */
export function podsManifest(dstPorts: number[]): string {
  const ports = dstPorts.map((p) => `{ containerPort: ${p} }`).join(', ');
  return `apiVersion: v1
kind: Pod
metadata: { name: src, namespace: default, labels: { app: src } }
spec: { nodeName: node-1, containers: [{ name: c, ports: [{ containerPort: 80 }] }] }
---
apiVersion: v1
kind: Pod
metadata: { name: dst, namespace: default, labels: { app: dst } }
spec: { nodeName: node-2, containers: [{ name: c, ports: [${ports}] }] }
`;
}

export async function agentPid(lab: string, node: string): Promise<string> {
  return (await readFile(join(nodeDir(lab, node), 'agent.pid'), 'utf8')).trim();
}

/** An agent's CPU time so far in clock ticks (utime + stime from /proc, 100 a second). */
export async function agentCpuTicks(lab: string, node: string): Promise<number> {
  const f = (await readFile(`/proc/${await agentPid(lab, node)}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}
