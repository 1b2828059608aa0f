// Issue 10's Services benchmark: Twill's Services proxy against the real kube-proxy in nftables
// and in iptables mode, in one run, each on a fresh node network namespace (node.ts: the same
// topology for all three), fed the same Services and EndpointSlices (objects.ts) — kube-proxy
// through the same real kube-apiserver (src/datastore/kubernetes/testing/): kube-proxy with a
// kubeconfig, Twill through its Kubernetes datastore as the agent reads it in a cluster
// (`--twill-datastore etcd`: its etcd datastore instead). Twill is the agent's real
// ServicesController in a process of its own (twill-node.ts, with the DaemonSet's runtime
// environment). proxies.ts starts them; measure.ts measures.
// "In the kernel" is measured the same way for all three, never from a proxy's log: full sync is
// polled (proxies.ts `witness`: the bench Service's key in the proxy's map, every 25 ms, from the
// moment the proxy is started with every object already stored); an endpoint change is timed
// from the write's acknowledgement to the first `nft monitor` line in that namespace naming the
// new endpoint address. iptables mode is iptables-nft here, so nft monitor sees its rules too.
//   sudo npm run bench:services -- [--services 10000] [--small 100] [--changes 20] [--seconds 2]
//   sudo npm run bench:services -- --quick     (1,000 Services, 5 changes, 1 s runs: to try it)
//   sudo npm run bench:services -- --proxies twill [--twill-datastore kubernetes|etcd]
//   sudo npm run bench:services -- --full-sync-timeout 900   (seconds a proxy's full sync may take)
//   sudo npm run bench:services -- --twill-full-syncs 3      (Twill's full sync taken 3 times; its figure the median)
//   sudo npm run bench:services -- --conn-rounds 12          (paired connections/s rounds, order alternating)
// JSON on stdout, progress on stderr. Everything it makes is removed at the end, even on failure.
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { startEtcd, type EtcdServer } from '../../src/datastore/etcd/server.js';
import { openStore } from '../../src/datastore/index.js';
import { startControlPlane, type ControlPlane } from '../../src/datastore/kubernetes/testing/control-plane.js';
import type { Store } from '../../src/datastore/store.js';
import { connRate, connRatePaired, endpointChanges, memoryOf, pct, rssMB, throughputPairs } from './measure.js';
import { dropNode, makeNode, TAG, type Node } from './node.js';
import { benchObjects, BENCH_IP, Feeds, filler, NODE_IP, SERVERS, type Proxy, type TwillDatastore } from './objects.js';
import { children, freeze, load, log, namespaces, sh, sleep, stop, tail } from './proc.js';
import { iptablesChainOf, pollMs, prepare, proxyLog, startProxy, waitFor, witness, type Env } from './proxies.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    services: { type: 'string' },
    small: { type: 'string', default: '100' },
    changes: { type: 'string' },
    seconds: { type: 'string' },
    proxies: { type: 'string', default: 'twill,nftables,iptables' },
    'twill-datastore': { type: 'string', default: 'kubernetes' },
    'full-sync-timeout': { type: 'string' },
    'twill-full-syncs': { type: 'string', default: '3' },
    'conn-rounds': { type: 'string', default: '12' },
  },
});
const N = Number(args.services ?? (args.quick ? 1000 : 10000));
const SMALL = Number(args.small);
const CHANGES = Number(args.changes ?? (args.quick ? 5 : 20));
const SECONDS = Number(args.seconds ?? (args.quick ? 1 : 2));
const PROXIES = args.proxies!.split(',') as Proxy[];
if (!(N >= 100 && N <= 20_000 && SMALL >= 2 && SMALL < N && CHANGES >= 1 && CHANGES <= 100 && SECONDS > 0 && SECONDS <= 10)) throw new Error('--services 100..20000, --small 2..services, --changes 1..100, --seconds 0..10');
if (PROXIES.some((p) => !['twill', 'nftables', 'iptables'].includes(p))) throw new Error('--proxies: a comma-separated subset of twill,nftables,iptables');
// How long a proxy's full sync of N Services may take before the bench gives up on it: kube-proxy's
// iptables mode took 195 s at 10,000 Services on a quiet machine and over 300 s at load ~2.
const FULL_SYNC_TIMEOUT_S = Number(args['full-sync-timeout'] ?? 900);
if (!(FULL_SYNC_TIMEOUT_S >= 10 && FULL_SYNC_TIMEOUT_S <= 3600)) throw new Error('--full-sync-timeout: seconds, 10..3600');
// Twill's full sync is ~2 s, and single samples on this shared machine move by ±0.3 s: it is
// taken this many times (each on a fresh node), its figure the median. kube-proxy's take 40–230 s,
// where that noise is small: once.
const CONN_ROUNDS = Number(args['conn-rounds']);
if (!(Number.isInteger(CONN_ROUNDS) && CONN_ROUNDS >= 2 && CONN_ROUNDS <= 40 && CONN_ROUNDS % 2 === 0)) throw new Error('--conn-rounds: an even number 2..40 (the order alternates)');
const TWILL_FULL_SYNCS = Number(args['twill-full-syncs']);
if (!(Number.isInteger(TWILL_FULL_SYNCS) && TWILL_FULL_SYNCS >= 1 && TWILL_FULL_SYNCS <= 9)) throw new Error('--twill-full-syncs: 1..9');
const TWILL_DATASTORE = args['twill-datastore'] as TwillDatastore;
if (!['kubernetes', 'etcd'].includes(TWILL_DATASTORE)) throw new Error('--twill-datastore: kubernetes (default: the kube-apiserver kube-proxy reads) or etcd');

const HERE = fileURLToPath(new URL('.', import.meta.url));

interface Result {
  /** The median of fullSyncSamplesMs. */
  fullSyncMs: number;
  /** Each full sync, in the order taken (Twill: --twill-full-syncs of them, the last on the node measured further; kube-proxy: one). */
  fullSyncSamplesMs: number[];
  endpointChangeMs: { p50: number; p99: number; max: number; samples: number };
  /** Paired rounds on the small node (proxy frozen) and the big one: each round's rate, and the median of the rounds' ratios. */
  connPerSec: Record<string, number | number[]>;
  /** Eight back-to-back pairs after a warm-up run (which goes first alternates); ratio: the median of the pairs' ratios. */
  throughputGbps: { viaClusterIP: number[]; direct: number[]; ratio: number; warmupGbps: number };
  rssMB: number;
  /** The same process's RSS split (smaps_rollup), read right after rssMB. */
  rssSplitMB: { anonMB: number; fileMB: number };
  /** Twill only: V8's own account (heap used and reserved, by space), asked for after the RSS was read. */
  v8?: Record<string, unknown>;
  loadavg: number[];
  /** Twill only: ms since its process started at each step of the full sync (twill-node.ts). */
  timeline?: Record<string, number>;
}

function twillTimeline(logFile: string): Record<string, number> | undefined {
  const line = tail(logFile, 50).split('\n').find((l) => l.startsWith('{"timeline"'));
  return line ? (JSON.parse(line) as { timeline: Record<string, number> }).timeline : undefined;
}

/** twill-node.ts's answer to SIGUSR2: V8's heap figures (asked for after the RSS is read). */
async function twillV8(pid: number, logFile: string): Promise<Record<string, unknown> | undefined> {
  process.kill(pid, 'SIGUSR2');
  await sleep(300);
  const line = tail(logFile, 50).split('\n').reverse().find((l) => l.startsWith('{"memory"'));
  return line ? (JSON.parse(line) as { memory: Record<string, unknown> }).memory : undefined;
}

/** The control plane (etcd for Twill when asked), the relay the proxies reach the apiserver by, the Twill bundle. */
async function setUp(dir: string, held: { cp?: ControlPlane; etcd?: EtcdServer; store?: Store; relay?: Server }): Promise<{ env: Env; feeds: Feeds }> {
  await mkdir(join(dir, 'cp'));
  const cp = (held.cp = await startControlPlane({ dir: join(dir, 'cp'), disableAdmission: ['ServiceAccount'] }));
  const etcd = TWILL_DATASTORE === 'etcd' ? (held.etcd = await startEtcd({ dataDir: join(dir, 'etcd'), clientUrls: ['unix'] })) : undefined;
  const store = etcd ? (held.store = await openStore(`etcd:${etcd.endpoints[0]}`)) : undefined;
  const apiPort = Number(new URL(cp.server).port);
  const relaySocket = join(dir, 'api.sock');
  const relay = (held.relay = createServer((c) => {
    const u = createConnection({ host: '127.0.0.1', port: apiPort });
    c.pipe(u).pipe(c);
    for (const s of [c, u]) s.on('error', () => (c.destroy(), u.destroy()));
  }));
  await new Promise<void>((r) => relay.listen(relaySocket, r));
  const kubeconfig = join(dir, 'proxy.kubeconfig');
  await writeFile(kubeconfig, (await readFile(cp.kubeconfig, 'utf8')).replace(cp.server, 'https://127.0.0.1:6443'));
  const twillBundle = join(HERE, '../../dist/bench-services-node.mjs');
  await build({ entryPoints: [join(HERE, 'twill-node.ts')], outfile: twillBundle, bundle: true, platform: 'node', target: 'node20', format: 'esm', external: ['netlink', 'etcd3', 'koffi'], logLevel: 'warning',
    // As scripts/build.mjs bundles the agent: CommonJS dependencies require Node's built-ins.
    banner: { js: "import { createRequire as __twillCreateRequire } from 'node:module'; const require = __twillCreateRequire(import.meta.url);" } });
  const admin = cp.admin();
  await admin.request('/api/v1/nodes', { method: 'POST', body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'bench-node' }, spec: { podCIDR: '10.244.0.0/24' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } }, what: 'creating the Node' });
  admin.close();
  return { env: { dir, twillDatastore: TWILL_DATASTORE, ...(etcd ? { etcd } : {}), relaySocket, kubeconfig, twillBundle }, feeds: new Feeds(cp, store, TWILL_DATASTORE === 'kubernetes' || PROXIES.some((p) => p !== 'twill')) };
}

/** Runs `body` on a fresh node with proxy `p` prepared; stops everything after, even on failure. */
async function onNode<T>(p: Proxy, tag: string, env: Env, body: (node: Node, procs: ChildProcess[]) => Promise<T>): Promise<T> {
  const procs: ChildProcess[] = [];
  let node: Node | undefined;
  try {
    node = await makeNode(tag);
    procs.push(...(await prepare(p, node, env)));
    return await body(node, procs);
  } finally {
    for (const c of procs) await stop(c);
    await dropNode(node);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:services needs root (network namespaces, nftables)');
  const dir = await mkdtemp(join(tmpdir(), `${TAG}-`));
  const held: { cp?: ControlPlane; etcd?: EtcdServer; store?: Store; relay?: Server } = {};
  const started = performance.now();
  try {
    log(`load ${load().join(' ')}; control plane${TWILL_DATASTORE === 'etcd' ? ' and etcd' : ''} in ${dir}; Twill reads the ${TWILL_DATASTORE} datastore`);
    const { env, feeds } = await setUp(dir, held);
    const small: Record<string, number> = {};
    const result: Record<string, Result> = {};
    const errors: Record<string, string> = {};

    log(`phase 1: ${SMALL} Services (the bench Service + ${SMALL - 1} others)`);
    await feeds.put([...benchObjects(), ...Array.from({ length: SMALL - 1 }, (_, i) => filler(i)).flat()]);
    let iptChain: string | undefined;
    // Each proxy's small node is kept, its proxy frozen (SIGSTOP) once synced: its table stays as
    // it was, and phase 2 measures it in turn with the big node (connRatePaired), the two at the
    // same moments of this shared machine.
    const kept: Partial<Record<Proxy, { node: Node; procs: ChildProcess[] }>> = {};
    const dropKept = async (p: Proxy): Promise<void> => {
      const k = kept[p];
      delete kept[p];
      for (const c of k?.procs ?? []) await stop(c);
      await dropNode(k?.node);
    };
    for (const p of PROXIES) {
      const procs: ChildProcess[] = [];
      kept[p] = { node: await makeNode(`${p[0]}1`), procs };
      try {
        const node = kept[p].node;
        procs.push(...(await prepare(p, node, env)));
        const proxy = await startProxy(p, node, env);
        procs.push(proxy);
        await waitFor(witness(p, node, undefined), 120_000, `${p} with ${SMALL} Services`, { proc: proxy, log: proxyLog(p, node, env) }, pollMs(p));
        if (p === 'iptables') iptChain = iptablesChainOf(node);
        small[p] = await connRate(node, SECONDS);
        log(`${p}: ${Math.round(small[p])} new connections/s with ${SMALL} Services (load ${load()[0]}); proxy frozen, node kept for phase 2`);
        freeze(proxy, true);
      } catch (e) {
        await dropKept(p);
        errors[`${p} (${SMALL} Services)`] = String(e);
        log(`${p}: FAILED with ${SMALL} Services: ${String(e)}`);
      }
    }

    log(`phase 2: ${N - SMALL} more Services, ${N} in all (writes to the apiserver${TWILL_DATASTORE === 'etcd' ? ' and etcd' : ''}, not measured)`);
    await feeds.put(Array.from({ length: N - SMALL }, (_, i) => filler(SMALL - 1 + i)).flat());
    /** Starts `p` on `node` and waits for the bench Service in its ruleset: the proxy and ms from its spawn. */
    const fullSync = async (p: Proxy, node: Node, procs: ChildProcess[]): Promise<{ proxy: ChildProcess; ms: number }> => {
      const t0 = performance.now();
      const proxy = await startProxy(p, node, env);
      procs.push(proxy);
      await waitFor(witness(p, node, iptChain), FULL_SYNC_TIMEOUT_S * 1000, `${p} with ${N} Services`, { proc: proxy, log: proxyLog(p, node, env) }, pollMs(p));
      return { proxy, ms: performance.now() - t0 };
    };
    for (const [idx, p] of PROXIES.entries()) {
      try {
        const samples: number[] = [];
        for (let i = 1; p === 'twill' && i < TWILL_FULL_SYNCS; i++) {
          samples.push(
            await onNode(p, `${p[0]}${i + 2}`, env, async (node, procs) => Math.round((await fullSync(p, node, procs)).ms)),
          );
          log(`${p}: full sync ${i} of ${TWILL_FULL_SYNCS}: ${samples.at(-1)} ms (load ${load()[0]})`);
          // The kernel frees the removed node's namespaces (and their 70,000-element table) after the fact: not during the next sample.
          await sleep(3000);
        }
        result[p] = await onNode(p, `${p[0]}2`, env, async (node, procs) => {
          const loadBefore = load();
          const { proxy, ms: fullMs } = await fullSync(p, node, procs);
          samples.push(Math.round(fullMs));
          log(`${p}: full sync of ${N} Services ${Math.round(fullMs)} ms (load ${loadBefore[0]})${samples.length > 1 ? `; all ${samples.length}: ${samples.join(', ')} ms, median ${pct(samples, 0.5)}` : ''}`);
          await sleep(2000);
          const timeline = p === 'twill' ? twillTimeline(proxyLog(p, node, env)) : undefined;
          const lat = await endpointChanges({ proxy: p, idx: idx + 1, node, feeds, changes: CHANGES, services: N, gapMs: 1100, dir });
          log(`${p}: endpoint change p50 ${pct(lat, 0.5)} ms, p99 ${pct(lat, 0.99)} ms`);
          const smallNode = kept[p]?.node;
          const conn = smallNode ? await connRatePaired(smallNode, node, SECONDS, CONN_ROUNDS) : undefined;
          await dropKept(p);
          // The kernel tears the dropped node's namespaces down (and their conntrack entries) after the fact: not during the first pair.
          await sleep(3000);
          const tput = throughputPairs(node, BENCH_IP, SERVERS[0]!, SECONDS);
          const rss = await rssMB(proxy.pid!);
          const rssSplit = await memoryOf(proxy.pid!);
          const v8 = p === 'twill' ? await twillV8(proxy.pid!, proxyLog(p, node, env)) : undefined;
          const r: Result = {
            fullSyncMs: pct(samples, 0.5),
            fullSyncSamplesMs: samples,
            endpointChangeMs: { p50: pct(lat, 0.5), p99: pct(lat, 0.99), max: pct(lat, 1), samples: lat.length },
            connPerSec: conn
              ? { [`services${SMALL}`]: conn.a, [`services${N}`]: conn.b, ratio: conn.ratio, [`services${SMALL}Alone`]: Math.round(small[p] ?? 0) }
              : { ratio: NaN },
            throughputGbps: tput,
            rssMB: rss,
            rssSplitMB: rssSplit,
            ...(v8 ? { v8 } : {}),
            loadavg: loadBefore,
            ...(timeline ? { timeline } : {}),
          };
          log(`${p}: ${JSON.stringify(r)}`);
          return r;
        });
      } catch (e) {
        errors[`${p} (${N} Services)`] = String(e);
        log(`${p}: FAILED with ${N} Services: ${String(e)}`);
      } finally {
        await dropKept(p);
      }
    }
    const t = result['twill'];
    const k = result['nftables'];
    const floors = t
      ? {
          fullSyncAtMost2s: t.fullSyncMs <= 2000,
          fullSyncAtMostKubeProxyNftables: k ? t.fullSyncMs <= k.fullSyncMs : null,
          endpointChangeP99AtMost50ms: t.endpointChangeMs.p99 <= 50,
          connRateRatioAtLeast095: Number(t.connPerSec['ratio'] ?? 0) >= 0.95,
          throughputRatioAtLeast095: t.throughputGbps.ratio >= 0.95,
          rssAtMost150MB: t.rssMB <= 150,
        }
      : {};
    const out = { services: N, small: SMALL, endpointsPerService: 3, changes: CHANGES, seconds: SECONDS, quick: args.quick, twillFedBy: TWILL_DATASTORE === 'etcd' ? 'etcd datastore (ServicesController)' : 'kube-apiserver, Kubernetes datastore (ServicesController)', kubeProxyFedBy: 'kube-apiserver', ...(process.env['BENCH_TWILL_NODE_FLAGS'] ? { diagnosticTwillNodeFlags: process.env['BENCH_TWILL_NODE_FLAGS'] } : {}), proxies: result, floors, errors, loadavgEnd: load(), wallSeconds: Math.round((performance.now() - started) / 1000) };
    console.log(JSON.stringify(out, null, 2));
  } finally {
    for (const c of children) await stop(c);
    for (const n of namespaces) sh(['ip', 'netns', 'del', n], true);
    held.relay?.close();
    // why: teardown of a run whose result is already printed (or whose error is being thrown).
    await held.store?.close().catch(() => undefined);
    await held.etcd?.stop().catch(() => undefined);
    await held.cp?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
// Clients and sockets are closed; exit even if a library left a timer behind.
process.exit(0);
