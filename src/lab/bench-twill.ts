// The bench's "twill" path: a dedicated 2-node lab running one backend, a pod on each node wired
// through twill-cni, and a check that each node holds the route to the other's block through the
// backend's device before anything is measured.
import { run } from '../dataplane/kernel/exec.js';
import type { BackendName, Pod } from '../model/types.js';
import { TwillError } from '../util/errors.js';
import { applyDocs, ensureDefaultNamespace } from './apply.js';
import { LabKubelet } from './kubelet.js';
import { LAB_DEFAULTS, Lab, type Print } from './lab.js';
import { waitFor } from './processes.js';

/** Where one path's iperf3 runs: pod → pod, and node → node over the underlay. */
export interface BenchPath {
  srcPod: string;
  dstPod: string;
  dstPodIp: string;
  srcNode: string;
  dstNode: string;
  dstNodeIp: string;
}

const POD_NS = 'default';
const pod = (name: string, node: string): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: POD_NS, labels: { app: 'twill-bench' } },
  spec: { nodeName: node, containers: [{ name: 'iperf3', image: 'iperf3' }] },
});

interface RouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
  flags?: string[];
}

/** The route `from` must hold to reach `to`'s blocks, as the backend installs it. */
async function routeProblem(lab: Lab, backend: BackendName, from: string, to: string): Promise<string | undefined> {
  const peer = await lab.agentStatus(to, 1000);
  const blocks = peer.cluster?.blocks ?? [];
  if (blocks.length === 0) return `${to} holds no block yet`;
  const { stdout } = await run('ip', ['-n', lab.node(from).netns, '-j', 'route', 'show']);
  const routes = JSON.parse(stdout || '[]') as RouteJson[];
  for (const b of blocks) {
    const r = routes.find((x) => x.dst === b);
    if (!r) return `${from} has no route to ${to}'s block ${b}`;
    const want = backend === 'vxlan' ? { dev: 'twill0', gateway: b.split('/')[0] } : { dev: 'eth0', gateway: lab.node(to).underlayIP };
    if (r.dev !== want.dev || r.gateway !== want.gateway) return `${from} routes ${b} via ${r.gateway ?? '-'} dev ${r.dev ?? '-'}, expected via ${want.gateway} dev ${want.dev}`;
    if (backend === 'vxlan' && !(r.flags ?? []).includes('onlink')) return `${from}'s route to ${b} is not onlink`;
  }
  return undefined;
}

/** Brings up lab `name` with 2 nodes on `backend`, one pod per node; waits for both routes. */
export async function startTwillPath(name: string, backend: BackendName, print: Print): Promise<{ lab: Lab; path: BenchPath }> {
  const lab = await Lab.up({ ...LAB_DEFAULTS, name, nodes: 2, backend }, print);
  try {
    const store = await lab.store();
    await ensureDefaultNamespace(store);
    const docs = [pod('bench-src', 'node-1'), pod('bench-dst', 'node-2')].map((obj, i) => ({ source: 'lab bench', index: i + 1, obj }));
    await applyDocs(lab, docs, print);
    const kubelet = new LabKubelet(lab);
    const src = await kubelet.record(POD_NS, 'bench-src');
    const dst = await kubelet.record(POD_NS, 'bench-dst');
    if (!src || !dst) throw new TwillError('INTERNAL', `lab ${name}: the bench pods did not start`);
    let problem: string | undefined;
    await waitFor(`lab ${name}: ${backend} routes between node-1 and node-2`, async () => {
      problem = (await routeProblem(lab, backend, 'node-1', 'node-2')) ?? (await routeProblem(lab, backend, 'node-2', 'node-1'));
      return problem === undefined;
    }, 15_000, 100).catch((e: unknown) => {
      throw new TwillError('TIMEOUT', `lab ${name}: ${problem ?? 'routes not ready'}`, { cause: e });
    });
    const path: BenchPath = {
      srcPod: src.netns,
      dstPod: dst.netns,
      dstPodIp: dst.ip,
      srcNode: lab.node('node-1').netns,
      dstNode: lab.node('node-2').netns,
      dstNodeIp: lab.node('node-2').underlayIP,
    };
    return { lab, path };
  } catch (e) {
    await lab.close();
    throw e;
  }
}
