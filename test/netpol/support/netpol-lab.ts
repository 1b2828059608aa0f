// A 3-node lab running the upstream e2e netpol cluster (test/netpol/cluster.yaml), and the three
// witnesses every NetworkPolicy test compares: the expectation, the evaluator (run here, over the
// lab's datastore objects) and the kernel (`lab probe`: real connections from inside the pods).
import { mkdtemp, readFile, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentRequest } from '../../../src/cli/client.js';
import { applyDocs, deleteDocs, ensureDefaultNamespace } from '../../../src/lab/apply.js';
import { LabKubelet, type PodRecord } from '../../../src/lab/kubelet.js';
import { LAB_DEFAULTS, Lab } from '../../../src/lab/lab.js';
import { loadManifests, type LabResource } from '../../../src/lab/manifest.js';
import { probeFrom } from '../../../src/lab/pod-sandbox.js';
import { probeLab } from '../../../src/lab/probe.js';
import { nodeDir, podDir } from '../../../src/lab/state.js';
import { objectKey } from '../../../src/model/types.js';
import { buildSnapshot, evaluate } from '../../../src/policy/index.js';
import { TwillError } from '../../../src/util/errors.js';
import { projectRoot } from '../../../src/util/paths.js';
import { renderTemplate } from './template.js';
import { allCells, cellKey, parseCellKey, ppText, type Cell, type Matrix, type PortProto } from './truth-table.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const CLUSTER_YAML = join(HERE, '..', 'cluster.yaml');

/** Every pod serves these (cluster.yaml): the columns of every truth table. */
export const NETPOL_PORTS: readonly PortProto[] = [
  { port: 80, protocol: 'TCP' },
  { port: 81, protocol: 'TCP' },
  { port: 80, protocol: 'UDP' },
  { port: 81, protocol: 'UDP' },
];

/** Inside one host a drop costs the whole timeout, so keep it short; misses are re-checked. */
const PROBE_TIMEOUT_MS = 400;
const RECHECK_TIMEOUT_MS = 2000;

const quiet = (): void => undefined;

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, await newestMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, (await stat(p)).mtimeMs);
  }
  return newest;
}

/** The lab runs the bundle in dist/, not src/: refuse to test a stale build. */
async function checkBuildFresh(): Promise<void> {
  const root = projectRoot();
  const built = await Promise.all(['twill.js', 'twill-cni.cjs', 'pod-server.js'].map((f) => stat(join(root, 'dist', f)).then((s) => s.mtimeMs, () => 0)));
  if (Math.min(...built) < (await newestMtime(join(root, 'src')))) {
    throw new Error('dist/ is older than src/ (the lab runs the built bin/twill): run `node scripts/build.mjs` first');
  }
}

export class NetpolLab {
  private constructor(
    readonly lab: Lab,
    /** `namespace/name`, sorted: x/a … z/c. */
    readonly pods: string[],
    readonly records: Map<string, PodRecord>,
  ) {}

  get name(): string {
    return this.lab.name;
  }

  /** Pod → address, for {{ip …}} placeholders. */
  get ips(): Map<string, string> {
    return new Map([...this.records].map(([k, r]) => [k, r.ip]));
  }

  static async start(name: string): Promise<NetpolLab> {
    await checkBuildFresh();
    await Lab.down(name, quiet); // leftovers of an interrupted run
    let lab: Lab | undefined;
    try {
      lab = await Lab.up({ ...LAB_DEFAULTS, name, nodes: 3 }, quiet);
      await ensureDefaultNamespace(await lab.store());
      await applyDocs(lab, await loadManifests([CLUSTER_YAML]), quiet);
      const recs = await new LabKubelet(lab).records();
      const l = new NetpolLab(lab, recs.map((r) => `${r.namespace}/${r.name}`), new Map(recs.map((r) => [`${r.namespace}/${r.name}`, r])));
      await l.sync();
      return l;
    } catch (e) {
      await lab?.close().catch(() => undefined);
      await Lab.down(name, quiet);
      throw e;
    }
  }

  async stop(): Promise<void> {
    await this.lab.close().catch(() => undefined);
    await Lab.down(this.name, quiet);
  }

  /** Returns once every agent's ruleset reflects the datastore as it is now. */
  async sync(): Promise<void> {
    await Promise.all(this.lab.state.nodes.map((n) => agentRequest(this.lab.socket(n.name), 'POST', '/v1/policy/sync', undefined, 10_000)));
  }

  /** As sync, for agents that may still be starting (retries while they say TRY_AGAIN). */
  async syncWhenReady(timeoutMs = 15_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.sync();
      } catch (e) {
        if (Date.now() > until || !(e instanceof TwillError && ['TRY_AGAIN', 'AGENT_UNREACHABLE'].includes(e.code))) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** `lab apply -f` of a scenario file (placeholders rendered first), then sync. */
  async apply(file: string): Promise<void> {
    await this.withRendered(file, async (path) => applyDocs(this.lab, await loadManifests([path]), quiet));
    await this.sync();
  }

  /** `lab delete -f`, then sync. */
  async delete(file: string): Promise<void> {
    await this.withRendered(file, async (path) => deleteDocs(this.lab, await loadManifests([path]), quiet));
    await this.sync();
  }

  /** Objects built in code, applied as `lab apply` would (the caller validated them), then sync. */
  async applyObjects(objs: LabResource[]): Promise<void> {
    await applyDocs(this.lab, objs.map((obj, i) => ({ source: 'generated', index: i + 1, obj })), quiet);
    await this.sync();
  }

  async deleteObjects(objs: LabResource[]): Promise<void> {
    await deleteDocs(this.lab, objs.map((obj, i) => ({ source: 'generated', index: i + 1, obj })), quiet);
    await this.sync();
  }

  private async withRendered(file: string, fn: (path: string) => Promise<void>): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'twill-netpol-'));
    try {
      const path = join(dir, basename(file));
      await writeFile(path, renderTemplate(await readFile(file, 'utf8'), this.ips, file));
      await fn(path);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Back to the baseline: no policies, labels as cluster.yaml has them. */
  async reset(): Promise<void> {
    const store = await this.lab.store();
    for (const p of (await store.list('NetworkPolicy')).items) await store.delete('NetworkPolicy', objectKey(p));
    await applyDocs(this.lab, await loadManifests([CLUSTER_YAML]), quiet);
    await this.sync();
  }

  /** The evaluator's verdict for every cell, over the policies, pods and namespaces in the datastore. */
  async evaluatorMatrix(): Promise<Matrix> {
    const store = await this.lab.store();
    const [namespaces, pods, policies] = await Promise.all([store.list('Namespace'), store.list('Pod'), store.list('NetworkPolicy')]);
    const { snapshot } = buildSnapshot({ node: 'node-1', namespaces: namespaces.items, pods: pods.items, policies: policies.items, localEndpoints: [] });
    const m: Matrix = new Map();
    for (const c of allCells(this.pods, NETPOL_PORTS)) {
      m.set(cellKey(c), evaluate(snapshot, { src: { pod: c.from }, dst: { pod: c.to }, protocol: c.protocol, port: c.port }).allowed);
    }
    return m;
  }

  /**
   * What the kernel does: `lab probe` of every cell. A probe that failed where `expected` says
   * allowed is tried once more with a long timeout, so a slow moment on a busy host is not taken
   * for a drop (a connection that succeeds is never retried: nothing connects by accident).
   */
  async kernelMatrix(expected?: Matrix): Promise<Matrix> {
    const results = await probeLab(this.lab, { timeoutMs: PROBE_TIMEOUT_MS });
    const m: Matrix = new Map();
    for (const r of results) m.set(cellKey({ from: r.from, to: r.to, port: r.port, protocol: r.protocol === 'udp' ? 'UDP' : 'TCP' }), r.connected);
    if (!expected) return m;
    const again = [...m].filter(([k, ok]) => !ok && expected.get(k) === true).map(([k]) => parseCellKey(k));
    const byFrom = new Map<string, Cell[]>();
    for (const c of again) byFrom.set(c.from, [...(byFrom.get(c.from) ?? []), c]);
    await Promise.all(
      [...byFrom].map(async ([from, cells]) => {
        const src = this.records.get(from)!;
        const targets = cells.map((c) => ({ ip: this.records.get(c.to)!.ip, port: c.port, protocol: c.protocol === 'UDP' ? ('udp' as const) : ('tcp' as const), timeoutMs: RECHECK_TIMEOUT_MS }));
        const out = await probeFrom(podDir(this.name, src.namespace, src.name), targets);
        out.forEach((o, i) => m.set(cellKey(cells[i]!), o.connected));
      }),
    );
    return m;
  }

  /** `twill policy explain` for a cell, from the agents of both ends (egress is decided at the source's node, ingress at the destination's). */
  async explain(c: Cell): Promise<string> {
    const nodes = [...new Set([this.records.get(c.from)?.node, this.records.get(c.to)?.node])].filter((n): n is string => n !== undefined);
    const parts = await Promise.all(
      nodes.map(async (node) => {
        try {
          const r = await agentRequest<{ text: string }>(this.lab.socket(node), 'POST', '/v1/policy/explain', { from: c.from, to: c.to, port: c.port, protocol: c.protocol.toLowerCase() }, 5000);
          return `  [agent on ${node}] ${r.text.trim().split('\n').join('\n    ')}`;
        } catch (e) {
          return `  [agent on ${node}] explain failed: ${String(e)}`;
        }
      }),
    );
    return `${c.from} → ${c.to} ${ppText(c)}:\n${parts.join('\n')}`;
  }

  async agentLog(node: string): Promise<string> {
    return readFile(join(nodeDir(this.name, node), 'agent.log'), 'utf8');
  }
}
