// Issue 10's Services benchmark: Twill's Services proxy against the real kube-proxy in nftables
// and in iptables mode, in one run, each on a fresh node network namespace this bench makes (the
// same topology for all three: a node with an underlay address, a client pod, a server pod with
// three addresses), fed the same Services and EndpointSlices — kube-proxy through a real
// kube-apiserver (src/datastore/kubernetes/testing/), Twill through its etcd datastore (the
// agent's real ServicesController, in a process of its own: bench/services/twill-node.ts, with
// the DaemonSet's NODE_OPTIONS young-generation cap).
// "In the kernel" is measured the same way for all three, never from a proxy's log: full sync is
// polled (`nft get element` / `nft list chain` on one Service's object, every 25 ms, from the
// moment the proxy is started with every object already stored); an endpoint change is timed from
// the write's acknowledgement to the first `nft monitor` line in that namespace naming the new
// endpoint address. iptables mode is iptables-nft here, so nft monitor sees its rules too.
//   sudo npm run bench:services -- [--services 10000] [--small 100] [--changes 20] [--seconds 2]
// JSON on stdout, progress on stderr. Everything it makes is removed at the end, even on failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { startControlPlane, kubeBinary, type ControlPlane } from '../../src/datastore/kubernetes/testing/control-plane.js';
import { startEtcd, type EtcdServer } from '../../src/datastore/etcd/server.js';
import { openStore } from '../../src/datastore/index.js';
import type { Store } from '../../src/datastore/store.js';
import type { EndpointSlice, Service } from '../../src/model/types.js';

const { values: args } = parseArgs({
  options: {
    services: { type: 'string', default: '10000' },
    small: { type: 'string', default: '100' },
    changes: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '2' },
    proxies: { type: 'string', default: 'twill,nftables,iptables' },
  },
});
const N = Number(args.services);
const SMALL = Number(args.small);
const CHANGES = Number(args.changes);
const SECONDS = Number(args.seconds);
const PROXIES = args.proxies!.split(',') as Proxy[];
if (!(N >= 100 && N <= 20_000 && SMALL >= 2 && SMALL < N && CHANGES >= 1 && CHANGES <= 100 && SECONDS > 0 && SECONDS <= 10)) throw new Error('--services 100..20000, --small 2..services, --changes 1..100, --seconds 0..10');
type Proxy = 'twill' | 'nftables' | 'iptables';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const HELPERS = join(HERE, 'helpers.mjs');
const TAG = `svpb${process.pid.toString(36)}`;
const NODE_IP = '192.0.2.11';
const CLUSTER_CIDR = '10.244.0.0/14';
const BENCH_IP = '10.96.200.10';
const SERVERS = ['10.244.0.10', '10.244.0.11', '10.244.0.12'];
const CLIENT = '10.244.0.2';
const log = (m: string): void => void process.stderr.write(`[bench:services ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

const children = new Set<ChildProcess>();
const namespaces = new Set<string>();

function sh(argv: string[], ok = false): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0 && !ok) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.status === 0 ? r.stdout : '';
}
const nsx = (ns: string, argv: string[]): string[] => ['nsenter', `--net=/run/netns/${ns}`, '--', ...argv];

function start(argv: string[], logFile?: string): ChildProcess {
  const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', logFile ? 'pipe' : 'inherit'], detached: true });
  children.add(c);
  c.once('exit', () => children.delete(c));
  if (logFile) {
    const chunks: Buffer[] = [];
    c.stderr!.on('data', (b: Buffer) => chunks.push(b));
    c.once('exit', () => void writeFile(logFile, Buffer.concat(chunks)).catch(() => undefined));
  }
  return c;
}

async function stop(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  try {
    process.kill(-c.pid!, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }, 3000);
  await gone;
  clearTimeout(t);
}

const firstLine = (c: ChildProcess, timeoutMs = 20_000): Promise<string> =>
  new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error('no output from a helper within 20 s')), timeoutMs);
    c.stdout!.on('data', (b: Buffer) => {
      buf += b.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) {
        clearTimeout(t);
        res(buf.slice(0, i));
      }
    });
    c.once('exit', (code) => rej(new Error(`helper exited with ${code}`)));
  });

// ---- objects ----

const fillerIP = (i: number): string => `10.96.${1 + (i >> 8)}.${i & 255}`;
const fillerEP = (i: number, k: number, shift = 0): string => `10.${245 + k}.${((i + shift) >> 8) & 255}.${(i + shift) & 255}`;

function service(name: string, ip: string, ports: { name: string; port: number; targetPort: number }[]): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name }, spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], ports: ports.map((p) => ({ ...p, protocol: 'TCP' as const })) } };
}
function slice(svc: string, ips: string[], ports: { name: string; port: number }[]): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'default', name: `${svc}-a`, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'elsewhere' })),
    ports: ports.map((p) => ({ ...p, protocol: 'TCP' as const })),
  };
}
const filler = (i: number, shift = 0): [Service, EndpointSlice] => [service(`s${i}`, fillerIP(i), [{ name: '', port: 80, targetPort: 8080 }]), slice(`s${i}`, [0, 1, 2].map((k) => fillerEP(i, k, shift)), [{ name: '', port: 8080 }])];
const benchObjects = (): [Service, EndpointSlice] => [
  service('bench', BENCH_IP, [{ name: 'conn', port: 80, targetPort: 8080 }, { name: 'iperf', port: 5201, targetPort: 5201 }]),
  slice('bench', SERVERS, [{ name: 'conn', port: 8080 }, { name: 'iperf', port: 5201 }]),
];

class Feeds {
  constructor(
    private readonly cp: ControlPlane,
    private readonly store: Store,
  ) {}

  async put(objs: (Service | EndpointSlice)[], conc = 24): Promise<void> {
    const c = this.cp.admin();
    let next = 0;
    const path = (o: Service | EndpointSlice): string => (o.kind === 'Service' ? '/api/v1/namespaces/default/services' : '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices');
    const worker = async (): Promise<void> => {
      while (next < objs.length) {
        const o = objs[next++]!;
        await c.request(path(o), { method: 'POST', body: o, what: `creating ${o.kind} ${o.metadata.name}` });
        await this.store.put(o);
      }
    };
    try {
      await Promise.all(Array.from({ length: conc }, worker));
    } finally {
      c.close();
    }
  }

  /** Replaces a slice in the store the proxy reads; resolves at the write's acknowledgement. */
  async replaceSlice(proxy: Proxy, s: EndpointSlice): Promise<void> {
    if (proxy === 'twill') return void (await this.store.put(s));
    const c = this.cp.admin();
    try {
      const cur = await c.request<EndpointSlice>(`/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/${s.metadata.name}`, { what: 'reading a slice' });
      await c.request(`/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/${s.metadata.name}`, { method: 'PUT', body: { ...s, metadata: { ...s.metadata, resourceVersion: cur.metadata.resourceVersion } }, what: 'updating a slice' });
    } finally {
      c.close();
    }
  }
}

// ---- one node ----

interface Node {
  ns: string;
  client: string;
  server: string;
  servers: ChildProcess[];
}

async function makeNode(tag: string): Promise<Node> {
  const ns = `${TAG}${tag}`;
  const node: Node = { ns, client: `${ns}c`, server: `${ns}s`, servers: [] };
  for (const n of [node.ns, node.client, node.server]) {
    sh(['ip', 'netns', 'add', n]);
    namespaces.add(n);
    sh(nsx(n, ['ip', 'link', 'set', 'lo', 'up']));
  }
  const inNode = (argv: string[]): string => sh(nsx(ns, argv));
  for (const s of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']) inNode(['sysctl', '-qw', s]);
  inNode(['ip', 'link', 'add', 'svu0', 'type', 'veth', 'peer', 'name', 'svu1']);
  inNode(['ip', 'addr', 'add', `${NODE_IP}/24`, 'dev', 'svu0']);
  inNode(['ip', 'link', 'set', 'svu0', 'up']);
  inNode(['ip', 'link', 'set', 'svu1', 'up']);
  // Pods as Twill wires them: a /32, a gateway at 169.254.1.1 answered by a permanent neighbour.
  const pod = (pns: string, hostIf: string, ips: string[]): void => {
    inNode(['ip', 'link', 'add', hostIf, 'address', 'ee:ee:ee:ee:ee:ee', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pns]);
    inNode(['ip', 'link', 'set', hostIf, 'up']);
    const p = (argv: string[]): string => sh(nsx(pns, argv));
    for (const ip of ips) {
      p(['ip', 'addr', 'add', `${ip}/32`, 'dev', 'eth0']);
      inNode(['ip', 'route', 'add', `${ip}/32`, 'dev', hostIf]);
    }
    p(['ip', 'link', 'set', 'eth0', 'up']);
    const mac = (JSON.parse(p(['ip', '-j', 'link', 'show', 'eth0'])) as { address: string }[])[0]!.address;
    for (const ip of ips) inNode(['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'dev', hostIf, 'nud', 'permanent']);
    p(['ip', 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
    p(['ip', 'neigh', 'add', '169.254.1.1', 'lladdr', 'ee:ee:ee:ee:ee:ee', 'dev', 'eth0', 'nud', 'permanent']);
    p(['ip', 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0', 'src', ips[0]!]);
  };
  pod(node.client, 'svhc', [CLIENT]);
  pod(node.server, 'svhs', SERVERS);
  sh(nsx(node.client, ['sysctl', '-qw', 'net.ipv4.ip_local_port_range=10000 65000']));
  const srv = start(nsx(node.server, ['node', HELPERS, 'serve', '8080']));
  await firstLine(srv);
  node.servers.push(srv, start(nsx(node.server, ['iperf3', '-s', '-p', '5201'])));
  return node;
}

async function dropNode(n: Node | undefined): Promise<void> {
  if (!n) return;
  for (const s of n.servers) await stop(s);
  for (const x of [n.ns, n.client, n.server]) {
    sh(['ip', 'netns', 'del', x], true);
    namespaces.delete(x);
  }
}

// ---- proxies ----

interface Env {
  dir: string;
  etcd: EtcdServer;
  relaySocket: string;
  kubeconfig: string;
  twillBundle: string;
}

/** What a proxy needs in its namespace before it starts (kube-proxy: the way to the apiserver). */
async function prepare(p: Proxy, n: Node, env: Env): Promise<ChildProcess[]> {
  if (p === 'twill') return [];
  const relay = start(nsx(n.ns, ['node', HELPERS, 'relay', '6443', env.relaySocket]));
  await firstLine(relay);
  return [relay];
}

async function startProxy(p: Proxy, n: Node, env: Env): Promise<ChildProcess> {
  const logFile = join(env.dir, `${p}-${n.ns}.log`);
  if (p === 'twill') {
    const etcdSock = env.etcd.endpoints.find((e) => e.startsWith('unix://'))!;
    return start(nsx(n.ns, ['node', '--max-semi-space-size=4', env.twillBundle, `etcd:${etcdSock}`, 'bench-node', NODE_IP, CLUSTER_CIDR, join(env.dir, `run-${n.ns}`)]), logFile);
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

/** A command that succeeds once the bench Service is in the proxy's ruleset. */
function witness(p: Proxy, n: Node, iptChain: string | undefined): string[] {
  if (p === 'twill') return nsx(n.ns, ['nft', 'get', 'element', 'inet', 'twill-services', 'service_ips_v4', `{ ${BENCH_IP} . tcp . 80 }`]);
  if (p === 'nftables') return nsx(n.ns, ['nft', 'get', 'element', 'ip', 'kube-proxy', 'service-ips', `{ ${BENCH_IP} . tcp . 80 }`]);
  if (iptChain) return nsx(n.ns, ['nft', 'list', 'chain', 'ip', 'nat', iptChain]);
  return nsx(n.ns, ['sh', '-c', `nft list chain ip nat KUBE-SERVICES | grep -q 'default/bench:conn cluster IP'`]);
}

async function waitFor(argv: string[], timeoutMs: number, what: string): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' }).status === 0) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not in the kernel within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function iptablesChainOf(n: Node): string {
  const line = sh(nsx(n.ns, ['nft', 'list', 'chain', 'ip', 'nat', 'KUBE-SERVICES'])).split('\n').find((l) => l.includes('default/bench:conn cluster IP'));
  const m = /(KUBE-SVC-[A-Z0-9]+)/.exec(line ?? '');
  if (!m) throw new Error('cannot find the bench Service chain in KUBE-SERVICES');
  return m[1]!;
}

// ---- traffic ----

async function connRate(n: Node): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const c = start(nsx(n.client, ['node', HELPERS, 'connect', BENCH_IP, '80', String(SECONDS), '32']));
    const r = JSON.parse(await firstLine(c, (SECONDS + 20) * 1000)) as { connections: number; seconds: number; errors: number };
    if (r.errors > r.connections / 20) throw new Error(`${r.errors} failed connections of ${r.connections} to the ClusterIP`);
    rates.push(r.connections / r.seconds);
  }
  return rates.sort((a, b) => a - b)[1]!;
}

function throughput(n: Node, dst: string): number {
  const out = sh(nsx(n.client, ['iperf3', '-c', dst, '-p', '5201', '-t', String(SECONDS), '-J']));
  return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
}

async function rssMB(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m![1]) / 1024);
}

/** Endpoint changes one at a time: write, then the first `nft monitor` line naming the new address. */
async function endpointChanges(p: Proxy, idx: number, n: Node, feeds: Feeds): Promise<number[]> {
  const mon = start(nsx(n.ns, ['stdbuf', '-oL', 'nft', 'monitor']));
  let buf = '';
  const waiters = new Map<string, (t: number) => void>();
  mon.stdout!.on('data', (b: Buffer) => {
    const t = performance.now();
    buf += b.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines)
      for (const [ip, w] of waiters) {
        if (!l.includes(ip)) continue;
        waiters.delete(ip);
        w(t);
      }
  });
  // nft monitor reads the ruleset before it reports: wait until it reports a probe transaction.
  const probe = `${TAG}probe`;
  const ready = new Promise<number>((res) => waiters.set(probe, res));
  const deadline = performance.now() + 60_000;
  let up = false;
  void ready.then(() => (up = true));
  while (!up) {
    if (performance.now() > deadline) throw new Error(`${p}: nft monitor reported nothing within 60 s`);
    sh(nsx(n.ns, ['nft', 'add table ip', probe]), true);
    sh(nsx(n.ns, ['nft', 'delete table ip', probe]), true);
    await new Promise((r) => setTimeout(r, 200));
  }
  const lat: number[] = [];
  try {
    for (let j = 0; j < CHANGES; j++) {
      const i = (j * 331 + 7) % (N - 1);
      const [, s] = filler(i);
      const fresh = `10.248.${idx}.${j + 1}`;
      s.endpoints[0]!.addresses = [fresh];
      const seen = new Promise<number>((res, rej) => {
        waiters.set(fresh, res);
        setTimeout(() => rej(new Error(`${p}: endpoint ${fresh} not in the kernel within 30 s`)), 30_000).unref();
      });
      await feeds.replaceSlice(p, s);
      const acked = performance.now();
      lat.push((await seen) - acked);
      // kube-proxy's minSyncPeriod is 1 s: changes further apart are each applied at once.
      await new Promise((r) => setTimeout(r, 1100));
    }
  } finally {
    await stop(mon);
  }
  return lat;
}

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!.toFixed(1);
};
const load = (): number[] => sh(['cat', '/proc/loadavg']).split(' ').slice(0, 3).map(Number);

// ---- main ----

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:services needs root (network namespaces, nftables)');
  const dir = await mkdtemp(join(tmpdir(), `${TAG}-`));
  let cp: ControlPlane | undefined;
  let etcd: EtcdServer | undefined;
  let store: Store | undefined;
  let relay: Server | undefined;
  let node: Node | undefined;
  const procs: ChildProcess[] = [];
  try {
    log(`load ${load().join(' ')}; control plane and etcd in ${dir}`);
    await mkdir(join(dir, 'cp'));
    cp = await startControlPlane({ dir: join(dir, 'cp'), disableAdmission: ['ServiceAccount'] });
    etcd = await startEtcd({ dataDir: join(dir, 'etcd'), clientUrls: ['unix'] });
    store = await openStore(`etcd:${etcd.endpoints[0]}`);
    const apiPort = Number(new URL(cp.server).port);
    const relaySocket = join(dir, 'api.sock');
    relay = createServer((c) => {
      const u = createConnection({ host: '127.0.0.1', port: apiPort });
      c.pipe(u).pipe(c);
      for (const s of [c, u]) s.on('error', () => (c.destroy(), u.destroy()));
    });
    await new Promise<void>((r) => relay!.listen(relaySocket, r));
    const kubeconfig = join(dir, 'proxy.kubeconfig');
    const kc = await readFile(cp.kubeconfig, 'utf8');
    await writeFile(kubeconfig, kc.replace(cp.server, 'https://127.0.0.1:6443'));
    const twillBundle = join(HERE, '../../dist/bench-services-node.mjs');
    await build({ entryPoints: [join(HERE, 'twill-node.ts')], outfile: twillBundle, bundle: true, platform: 'node', target: 'node20', format: 'esm', external: ['netlink', 'etcd3', 'koffi'], logLevel: 'warning' });
    const env: Env = { dir, etcd, relaySocket, kubeconfig, twillBundle };
    const admin = cp.admin();
    await admin.request('/api/v1/nodes', { method: 'POST', body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'bench-node' }, spec: { podCIDR: '10.244.0.0/24' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } }, what: 'creating the Node' });
    admin.close();
    const feeds = new Feeds(cp, store);

    const small: Record<string, number> = {};
    const result: Record<string, Record<string, unknown>> = {};
    log(`phase 1: ${SMALL} Services (the bench Service + ${SMALL - 1} others)`);
    await feeds.put([...benchObjects(), ...Array.from({ length: SMALL - 1 }, (_, i) => filler(i)).flat()]);
    let iptChain: string | undefined;
    const errors: Record<string, string> = {};
    for (const p of PROXIES) {
      try {
        node = await makeNode(`${p[0]}1`);
        procs.push(...(await prepare(p, node, env)), await startProxy(p, node, env));
        await waitFor(witness(p, node, undefined), 120_000, `${p} with ${SMALL} Services`);
        if (p === 'iptables') iptChain = iptablesChainOf(node);
        small[p] = await connRate(node);
        log(`${p}: ${Math.round(small[p])} new connections/s with ${SMALL} Services (load ${load()[0]})`);
      } catch (e) {
        errors[`${p} (${SMALL} Services)`] = String(e);
        log(`${p}: FAILED with ${SMALL} Services: ${String(e)}`);
      } finally {
        for (const c of procs.splice(0)) await stop(c);
        await dropNode(node);
        node = undefined;
      }
    }

    log(`phase 2: ${N - SMALL} more Services, ${N} in all (writes to the apiserver and etcd, not measured)`);
    await feeds.put(Array.from({ length: N - SMALL }, (_, i) => filler(SMALL - 1 + i)).flat());
    for (const [idx, p] of PROXIES.entries()) {
     try {
      node = await makeNode(`${p[0]}2`);
      procs.push(...(await prepare(p, node, env)));
      const loadBefore = load();
      const t0 = performance.now();
      procs.push(await startProxy(p, node, env));
      await waitFor(witness(p, node, iptChain), 300_000, `${p} with ${N} Services`);
      const fullMs = performance.now() - t0;
      log(`${p}: full sync of ${N} Services ${Math.round(fullMs)} ms (load ${loadBefore[0]})`);
      await new Promise((r) => setTimeout(r, 2000));
      const lat = await endpointChanges(p, idx + 1, node, feeds);
      log(`${p}: endpoint change p50 ${pct(lat, 0.5)} ms, p99 ${pct(lat, 0.99)} ms`);
      const big = await connRate(node);
      const viaService = throughput(node, BENCH_IP);
      const direct = throughput(node, SERVERS[0]!);
      const proxyPid = procs[procs.length - 1]!.pid!;
      result[p] = {
        fullSyncMs: Math.round(fullMs),
        endpointChangeMs: { p50: pct(lat, 0.5), p99: pct(lat, 0.99), max: pct(lat, 1), samples: lat.length },
        connPerSec: { [`services${SMALL}`]: Math.round(small[p] ?? 0), [`services${N}`]: Math.round(big), ratio: +(big / (small[p] ?? NaN)).toFixed(3) },
        throughputGbps: { viaClusterIP: +(viaService / 1e9).toFixed(2), direct: +(direct / 1e9).toFixed(2), ratio: +(viaService / direct).toFixed(3) },
        rssMB: await rssMB(proxyPid),
        loadavg: loadBefore,
      };
      log(`${p}: ${JSON.stringify(result[p])}`);
     } catch (e) {
      errors[`${p} (${N} Services)`] = String(e);
      log(`${p}: FAILED with ${N} Services: ${String(e)}`);
     } finally {
      for (const c of procs.splice(0)) await stop(c);
      await dropNode(node);
      node = undefined;
     }
    }
    const t = result['twill'] as { fullSyncMs: number; endpointChangeMs: { p99: number }; connPerSec: { ratio: number }; throughputGbps: { ratio: number }; rssMB: number } | undefined;
    const k = result['nftables'] as { fullSyncMs: number } | undefined;
    const floors = t
      ? {
          fullSyncAtMost2s: t.fullSyncMs <= 2000,
          fullSyncAtMostKubeProxyNftables: k ? t.fullSyncMs <= k.fullSyncMs : null,
          endpointChangeP99AtMost50ms: t.endpointChangeMs.p99 <= 50,
          connRateRatioAtLeast095: t.connPerSec.ratio >= 0.95,
          throughputRatioAtLeast095: t.throughputGbps.ratio >= 0.95,
          rssAtMost150MB: t.rssMB <= 150,
        }
      : {};
    console.log(JSON.stringify({ services: N, small: SMALL, endpointsPerService: 3, changes: CHANGES, seconds: SECONDS, twillFedBy: 'etcd datastore (ServicesController)', kubeProxyFedBy: 'kube-apiserver', proxies: result, floors, errors, loadavgEnd: load() }, null, 2));
  } finally {
    for (const c of [...procs, ...children]) await stop(c);
    await dropNode(node);
    for (const n of namespaces) sh(['ip', 'netns', 'del', n], true);
    relay?.close();
    await store?.close().catch(() => undefined);
    await etcd?.stop().catch(() => undefined);
    await cp?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
// Clients and sockets are closed; exit even if a library left a timer behind.
process.exit(0);
