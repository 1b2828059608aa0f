// Twill's Services proxy as the bench runs it: the agent's real ServicesController (informers on
// the datastore → incremental compile → netlink/nft into this process's network namespace): the
// Kubernetes datastore with a kubeconfig, as `twill agent --datastore kubernetes --kubeconfig F`
// opens it, or etcd,
// alone in its own process so its RSS is the Services part of an agent plus Node's own baseline.
// Started by bench/services/main.ts inside the node namespace (bundled with esbuild, as the agent
// is); runs until SIGTERM. Once the first table is in the kernel it writes one line to stderr,
// `{"timeline":{…}}`: milliseconds since the process started at each step of the full sync.
//   node twill-node.mjs kubernetes NODE_NAME NODE_IP POD_CIDR RUN_DIR KUBECONFIG
//   node twill-node.mjs etcd:unix:///… NODE_NAME NODE_IP POD_CIDR RUN_DIR
import { getHeapSpaceStatistics } from 'node:v8';
import { openStore } from '../../src/datastore/index.js';
import { ServicesController } from '../../src/agent/services/controller.js';
import { Logger, setLogLevel } from '../../src/util/log.js';

const ms = (): number => Math.round(performance.now());
const timeline: Record<string, number> = { codeLoaded: ms() };
const [spec, name, ip, cidr, runDir, kubeconfig] = process.argv.slice(2);
if (!spec || !name || !ip || !cidr || !runDir || (spec === 'kubernetes') !== (kubeconfig !== undefined)) throw new Error('usage: twill-node kubernetes|etcd:… NODE_NAME NODE_IP POD_CIDR RUN_DIR [KUBECONFIG (kubernetes)]');
setLogLevel('warn');
const store = await openStore(spec, kubeconfig ? { kubeconfig } : {});
timeline['storeOpen'] = ms();
const log = new Logger('bench');
const ctl = new ServicesController(store, () => ({ name, addresses: [ip], podCidrs: [cidr] }), () => [], runDir, log);
ctl.start();
const watch = setInterval(() => {
  if (timeline['listed'] === undefined && ctl.ready) timeline['listed'] = ms();
  const st = ctl.status() as { totalChanges: number; lastDurationMs?: number; lastPass?: { compileMs: number; applyMs: number } };
  if (st.totalChanges === 0) return;
  clearInterval(watch);
  process.stderr.write(`${JSON.stringify({ timeline: { ...timeline, tableApplied: ms(), lastReconcileMs: st.lastDurationMs, compileMs: st.lastPass?.compileMs, applyMs: st.lastPass?.applyMs } })}\n`);
}, 5);
const stop = async (): Promise<void> => {
  clearInterval(watch);
  await ctl.stop();
  await store.close();
  process.exit(0);
};
// Diagnostics on demand (`kill -USR2 PID`): V8's heap spaces and the process's memory, one JSON
// line on stderr. Nothing runs unless asked, so the figures the bench takes are the agent's.
process.on('SIGUSR2', () => {
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { usedMB: +(s.space_used_size / 2 ** 20).toFixed(1), sizeMB: +(s.space_size / 2 ** 20).toFixed(1) }]));
  const mb = (n: number): number => +(n / 2 ** 20).toFixed(1);
  const m = process.memoryUsage();
  process.stderr.write(`${JSON.stringify({ memory: { rssMB: mb(m.rss), heapUsedMB: mb(m.heapUsed), heapTotalMB: mb(m.heapTotal), externalMB: mb(m.external), arrayBuffersMB: mb(m.arrayBuffers), spaces } })}\n`);
});
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
