// Twill's Services proxy as the bench runs it: the agent's real ServicesController (informers on
// the etcd datastore → incremental compile → netlink/nft into this process's network namespace),
// alone in its own process so its RSS is the Services part of an agent plus Node's own baseline.
// Started by bench/services/main.ts inside the node namespace (bundled with esbuild, as the agent
// is); runs until SIGTERM. Once the first table is in the kernel it writes one line to stderr,
// `{"timeline":{…}}`: milliseconds since the process started at each step of the full sync.
//   node twill-node.mjs ETCD_SPEC NODE_NAME NODE_IP POD_CIDR RUN_DIR
import { openStore } from '../../src/datastore/index.js';
import { ServicesController } from '../../src/agent/services-controller.js';
import { Logger, setLogLevel } from '../../src/util/log.js';

const ms = (): number => Math.round(performance.now());
const timeline: Record<string, number> = { codeLoaded: ms() };
const [spec, name, ip, cidr, runDir] = process.argv.slice(2);
if (!spec || !name || !ip || !cidr || !runDir) throw new Error('usage: twill-node ETCD_SPEC NODE_NAME NODE_IP POD_CIDR RUN_DIR');
setLogLevel('warn');
const store = await openStore(spec);
timeline['storeOpen'] = ms();
const log = new Logger('bench');
const ctl = new ServicesController(store, () => ({ name, addresses: [ip], podCidrs: [cidr] }), () => [], runDir, log);
ctl.start();
const watch = setInterval(() => {
  if (timeline['listed'] === undefined && ctl.ready) timeline['listed'] = ms();
  const st = ctl.status() as { totalChanges: number; lastDurationMs?: number };
  if (st.totalChanges === 0) return;
  clearInterval(watch);
  process.stderr.write(`${JSON.stringify({ timeline: { ...timeline, tableApplied: ms(), lastReconcileMs: st.lastDurationMs } })}\n`);
}, 5);
const stop = async (): Promise<void> => {
  clearInterval(watch);
  await ctl.stop();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
