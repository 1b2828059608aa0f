// The three proxies as the bench starts them, each in the node namespace: Twill (the agent's
// ServicesController in a process of its own, twill-node.ts, fed by its Kubernetes datastore, or
// by etcd when asked) and the real kube-proxy in nftables and in iptables mode. Whoever reads the
// kube-apiserver reaches it through a relay to 127.0.0.1:6443 in the namespace, with the same
// kubeconfig. And how "the bench Service is in the kernel" is checked.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kubeBinary } from '../../src/datastore/kubernetes/testing/control-plane.js';
import { AGENT_RUNTIME_ENV } from '../../src/deploy/manifest.js';
import { NFPROTO_INET } from '../../src/dataplane/kernel/nfnetlink.js';
import { NfTablesSocket } from '../../src/dataplane/kernel/nfnetlink-socket.js';
import type { EtcdServer } from '../../src/datastore/etcd/server.js';
import { HELPERS, type Node } from './node.js';
import { BENCH_IP, CLUSTER_CIDR, NODE_IP, type Proxy, type TwillDatastore } from './objects.js';
import { firstLine, nsx, sh, sleep, start, tail } from './proc.js';

export interface Env {
  dir: string;
  twillDatastore: TwillDatastore;
  /** Only when Twill reads etcd. */
  etcd?: EtcdServer;
  relaySocket: string;
  kubeconfig: string;
  twillBundle: string;
}

/** What a proxy needs in its namespace before it starts: the way to the apiserver (Twill on etcd needs none). */
export async function prepare(p: Proxy, n: Node, env: Env): Promise<ChildProcess[]> {
  if (p === 'twill' && env.twillDatastore === 'etcd') return [];
  const relay = start(nsx(n.ns, ['node', HELPERS, 'relay', '6443', env.relaySocket]));
  await firstLine(relay);
  return [relay];
}

export const proxyLog = (p: Proxy, n: Node, env: Env): string => join(env.dir, `${p}-${n.ns}.log`);

export async function startProxy(p: Proxy, n: Node, env: Env): Promise<ChildProcess> {
  const logFile = proxyLog(p, n, env);
  if (p === 'twill') {
    // The agent's `--datastore kubernetes --kubeconfig …`, or its etcd datastore.
    const spec = env.etcd ? `etcd:${env.etcd.endpoints.find((e) => e.startsWith('unix://'))!}` : 'kubernetes';
    const kubeconfig = env.etcd ? [] : [env.kubeconfig];
    // The DaemonSet's runtime environment (NODE_OPTIONS, MALLOC_ARENA_MAX), as the agent runs in a cluster.
    // BENCH_TWILL_NODE_FLAGS (diagnosis only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`): extra node flags; the JSON names them.
    const diag = (process.env['BENCH_TWILL_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
    return start(nsx(n.ns, ['node', ...diag, env.twillBundle, spec, 'bench-node', NODE_IP, CLUSTER_CIDR, join(env.dir, `run-${n.ns}`), ...kubeconfig]), logFile, AGENT_RUNTIME_ENV);
  }
  const cfg = join(env.dir, `kube-proxy-${p}.json`);
  await writeFile(
    cfg,
    JSON.stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: env.kubeconfig },
      mode: p,
      hostnameOverride: 'bench-node',
      clusterCIDR: CLUSTER_CIDR,
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      metricsBindAddress: '127.0.0.1:10249',
      healthzBindAddress: '127.0.0.1:10256',
    }),
  );
  return start(nsx(n.ns, [kubeBinary('kube-proxy'), `--config=${cfg}`, '--v=1']), logFile);
}

/**
 * Whether the bench Service is in the proxy's ruleset now. Twill and kube-proxy nftables mode:
 * one nf_tables GETSETELEM for its (address . tcp . 80) key in their Service map — a fraction of
 * a millisecond, where `nft get element` first reads the table (about a second at 10,000
 * Services, which would blur the figure). iptables mode: its rule comments are invisible to
 * `nft list`, so `iptables -S`; at 10,000 Services the bench Service's own chain (same name on
 * every node: a hash of the Service port) instead. Each proxy writes its whole table in one
 * transaction (kube-proxy iptables mode: one iptables-restore), so one Service present means all.
 */
export function witness(p: Proxy, n: Node, iptChain: string | undefined): () => Promise<boolean> {
  if (p === 'twill' || p === 'nftables') {
    let sock: NfTablesSocket | undefined;
    const key = Buffer.from([...BENCH_IP.split('.').map(Number), 6, 0, 0, 0, 0, 80, 0, 0]);
    const [family, table, set] = p === 'twill' ? [NFPROTO_INET, 'twill-services', 'service_ips_v4'] : [NFPROTO_IPV4, 'kube-proxy', 'service-ips'];
    return async () => {
      sock ??= NfTablesSocket.open(`/run/netns/${n.ns}`);
      if (!sock) throw new Error(`cannot open an nf_tables socket in namespace ${n.ns}`);
      const found = await sock.hasElement(family, table, set, key);
      if (found) sock.close();
      return found;
    };
  }
  const argv = iptChain ? nsx(n.ns, ['nft', 'list', 'chain', 'ip', 'nat', iptChain]) : nsx(n.ns, ['sh', '-c', `iptables -t nat -S KUBE-SERVICES | grep -q 'default/bench:conn cluster IP'`]);
  return () => Promise.resolve(spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' }).status === 0);
}
const NFPROTO_IPV4 = 2;

/**
 * How often to poll `witness(p)`: every 25 ms by one netlink request for the nftables proxies; for
 * iptables mode every 500 ms, as each poll is an `nft list chain` process that reads the nat table
 * and takes the nf_tables lock kube-proxy's iptables-restore needs (its sync takes minutes, so
 * the error this adds is under 0.5 %).
 */
export const pollMs = (p: Proxy): number => (p === 'iptables' ? 500 : 25);

/** Polls `check` every `everyMs` until it answers true; answers the time it took. Errors end with the proxy's log. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, proxy: { proc: ChildProcess; log: string }, everyMs = 25): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return performance.now() - t0;
    if (proxy.proc.exitCode !== null) throw new Error(`${what}: the proxy exited with ${proxy.proc.exitCode}; its log ends:\n${tail(proxy.log)}`);
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not in the kernel within ${timeoutMs / 1000} s; the proxy's log ends:\n${tail(proxy.log)}`);
    await sleep(everyMs);
  }
}

/** kube-proxy iptables mode: the bench Service's own chain (its name is a hash). */
export function iptablesChainOf(n: Node): string {
  const line = sh(nsx(n.ns, ['iptables', '-t', 'nat', '-S', 'KUBE-SERVICES'])).split('\n').find((l) => l.includes('default/bench:conn cluster IP'));
  const m = /(KUBE-SVC-[A-Z0-9]+)/.exec(line ?? '');
  if (!m) throw new Error('cannot find the bench Service chain in KUBE-SERVICES');
  return m[1]!;
}
