// The lab's kubelet: runs a Pod on its node (sandbox namespace, CNI ADD through twill-cni, the pod
// server answering on every declared containerPort) and removes it again (CNI DEL). What it runs
// is recorded in pods/<ns>_<pod>/pod.json, so any later `twill lab …` command knows.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pod } from '../model/types.js';
import { TwillError } from '../util/errors.js';
import type { Lab } from './lab.js';
import { createSandbox, removeSandbox, sandboxNetns, type SandboxSpec } from './pod-sandbox.js';
import { labDir, podDir } from './state.js';

export interface PodRecord {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  ip: string;
  netns: string;
  ports: { port: number; protocol: 'tcp' | 'udp' }[];
  createdAt: string;
}

export function podPorts(pod: Pod): { port: number; protocol: 'tcp' | 'udp' }[] {
  const out: { port: number; protocol: 'tcp' | 'udp' }[] = [];
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) {
      const protocol = (p.protocol ?? 'TCP') === 'UDP' ? 'udp' : 'tcp';
      // SCTP ports are accepted for policy purposes; the lab's pod server answers TCP and UDP only.
      if ((p.protocol ?? 'TCP') === 'SCTP') continue;
      if (!out.some((x) => x.port === p.containerPort && x.protocol === protocol)) out.push({ port: p.containerPort, protocol });
    }
  }
  return out;
}

export class LabKubelet {
  constructor(private readonly lab: Lab) {}

  private spec(rec: Pick<PodRecord, 'namespace' | 'name' | 'uid' | 'ports'>): SandboxSpec {
    return { lab: this.lab.name, namespace: rec.namespace, name: rec.name, uid: rec.uid, dir: podDir(this.lab.name, rec.namespace, rec.name), ports: rec.ports };
  }

  async records(): Promise<PodRecord[]> {
    const dir = join(labDir(this.lab.name), 'pods');
    const out: PodRecord[] = [];
    // why: read-only: no pods folder means no pods
    for (const d of await readdir(dir).catch(() => [] as string[])) {
      try {
        out.push(JSON.parse(await readFile(join(dir, d, 'pod.json'), 'utf8')) as PodRecord);
      } catch {
        // why: A pod whose start was interrupted before its record was written: `lab down` cleans it.
      }
    }
    return out.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  async record(namespace: string, name: string): Promise<PodRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(podDir(this.lab.name, namespace, name), 'pod.json'), 'utf8')) as PodRecord;
    } catch {
      // why: read-only: no record means no such pod
      return undefined;
    }
  }

  nodeIp(node: string): string {
    return this.lab.node(node).underlayIP;
  }

  /** The node for a pod without spec.nodeName: the one running the fewest pods. */
  async schedule(): Promise<string> {
    const counts = new Map(this.lab.state.nodes.map((n) => [n.name, 0]));
    for (const r of await this.records()) if (counts.has(r.node)) counts.set(r.node, counts.get(r.node)! + 1);
    const best = [...counts].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0], undefined, { numeric: true }))[0];
    if (!best) throw new TwillError('TRY_AGAIN', `lab ${this.lab.name} has no nodes`);
    return best[0];
  }

  /** Starts a pod on `node`; undoes itself if any step fails. */
  async run(pod: Pod, node: string, uid: string): Promise<PodRecord> {
    this.lab.node(node);
    const rec0 = { namespace: pod.metadata.namespace, name: pod.metadata.name, uid, ports: podPorts(pod) };
    const spec = this.spec(rec0);
    await mkdir(spec.dir, { recursive: true });
    const { ip } = await createSandbox(spec, this.lab.runtime(node), this.lab.conflist(node));
    const rec: PodRecord = { ...rec0, node, ip, netns: sandboxNetns(this.lab.name, rec0.namespace, rec0.name), createdAt: new Date().toISOString() };
    await writeFile(join(spec.dir, 'pod.json'), JSON.stringify(rec, null, 1) + '\n');
    return rec;
  }

  /** Stops a pod: CNI DEL, server, namespace. Harmless if it is not running. */
  async stop(namespace: string, name: string): Promise<boolean> {
    const rec = await this.record(namespace, name);
    if (!rec) return false;
    const node = this.lab.state.nodes.find((n) => n.name === rec.node);
    if (node) await removeSandbox(this.spec(rec), this.lab.runtime(rec.node), this.lab.conflist(rec.node));
    else await removeSandbox(this.spec(rec), this.lab.runtime(this.lab.state.nodes[0]!.name), { cniVersion: '1.1.0', name: 'twill', plugins: [] });
    return true;
  }
}
