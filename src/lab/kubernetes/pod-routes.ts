// Routes from the Kubernetes lab's control-plane namespace to the pods. On a real cluster the
// control-plane node runs the CNI, so kube-apiserver reaches pod addresses (pods/proxy,
// services/proxy, the e2e framework's "pods responding" checks). The lab's control plane sits in
// the underlay namespace with no agent, so this keeps one route per IPAM block there, via the node
// holding it, from Twill's TwillNode records — what host-gw would install. Routes carry
// protocol 116 (Twill's) so stale ones are found and removed.
import { Informer } from '../../agent/informer.js';
import { run } from '../../dataplane/kernel/exec.js';
import type { Store } from '../../datastore/store.js';
import { describeError } from '../../util/errors.js';
import { rootLogger } from '../../util/log.js';

const log = rootLogger.child('lab-pod-routes');
const PROTO = '116';

/** Desired `block → node address` routes from TwillNode records. Pure. */
export function podRoutes(nodes: { spec: { underlayIP: string; blocks: string[] } }[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of nodes) for (const b of n.spec.blocks) out.set(b, n.spec.underlayIP);
  return out;
}

export async function syncPodRoutes(store: Store): Promise<{ stop: () => void }> {
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  const nodes = new Informer(store, 'TwillNode', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(() => apply(podRoutes(nodes.list()))).catch((e: unknown) => log.warn('cannot update pod routes', { error: describeError(e) }));
    }, 100);
  });
  let stopped = false;
  void (async () => {
    // The CRDs arrive with Twill's install, after the control plane is up.
    for (let delay = 500; !stopped && !nodes.synced; delay = Math.min(delay * 2, 5000)) {
      try {
        await nodes.start();
      } catch {
        // why: expected until Twill's CRDs are installed; the loop retries with backoff
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  })();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      nodes.stop();
    },
  };
}

async function apply(want: Map<string, string>): Promise<void> {
  const have = JSON.parse((await run('ip', ['-j', 'route', 'show', 'proto', PROTO])).stdout || '[]') as { dst: string; gateway?: string }[];
  // why: a route already gone is what we want; a real failure shows in the replace below or the next run
  for (const r of have) if (want.get(r.dst) !== r.gateway) await run('ip', ['route', 'del', r.dst, 'proto', PROTO]).catch(() => undefined);
  for (const [dst, via] of want) if (!have.some((r) => r.dst === dst && r.gateway === via)) await run('ip', ['route', 'replace', dst, 'via', via, 'proto', PROTO]);
  log.info('pod routes', { routes: want.size });
}
