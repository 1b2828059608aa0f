// The agent as a DaemonSet pod lives it, on a real kernel (node and pod namespaces made here):
// the conflist appears only once the agent can serve ADD, /readyz says so, and a SIGTERM that is
// not an uninstall (a restart, a rolling update) leaves every link, route and nftables table, so
// a pod keeps its connectivity and the next agent changes no route. Needs root and `make build`.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../../src/dataplane/kernel/exec.js';
import { CONFLIST_NAME } from '../../src/agent/cni-files.js';
import { twillBin } from '../../src/util/paths.js';
import { NodeHarness, resultIp } from '../support/node-harness.js';
import { TestScope } from '../support/scope.js';

const isRoot = process.getuid?.() === 0;
const HEALTH_PORT = 19099;
const scope = new TestScope();
let h: NodeHarness;
let confDir: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function probe(netns: string, path: string): Promise<number> {
  const r = await run('nsenter', [`--net=/run/netns/${netns}`, '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://127.0.0.1:${HEALTH_PORT}${path}`]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '000' }));
  return Number(r.stdout.trim());
}

async function kernelState(netns: string): Promise<{ routes: string; links: string; tables: string }> {
  const inNs = (cmd: string, args: string[]) => run('nsenter', [`--net=/run/netns/${netns}`, '--', cmd, ...args]).then((r) => r.stdout);
  return {
    routes: await inNs('ip', ['route', 'show', 'table', 'all']),
    links: (await inNs('ip', ['-o', 'link', 'show'])).split('\n').map((l) => l.replace(/^\d+: /, '').split(':')[0]).sort().join(' '),
    tables: await inNs('nft', ['list', 'tables']),
  };
}

before(async () => {
  if (!isRoot) return;
  confDir = join(await scope.tmpdir('kd-netd-'), 'net.d');
  h = await NodeHarness.start(scope, { podCidr: '10.244.61.0/24', agentArgs: ['--cni-conf-dir', confDir, '--health-port', String(HEALTH_PORT)] });
});
after(() => scope.cleanup());

test('kd an agent that cannot serve yet: live, not ready, and no conflist', { skip: !isRoot && 'needs root' }, async () => {
  const { name } = await scope.netns('kd-nr-');
  const dir = await scope.tmpdir('kd-nr-');
  const conf = join(dir, 'net.d');
  // An uplink with a default route, so the agent gets as far as waiting for its datastore.
  for (const cmd of ['link set lo up', 'link add kd0 type veth peer name kd1', 'addr add 192.0.2.77/24 dev kd0', 'link set kd1 up', 'link set kd0 up', 'route add default via 192.0.2.1']) {
    await run('ip', ['-n', name, ...cmd.split(' ')]);
  }
  // A datastore nobody listens on: the agent waits for it and never gets ready.
  const child = scope.spawn('nsenter', [`--net=/run/netns/${name}`, '--', process.execPath, twillBin(), 'agent', '--node-name', 'kd-nr', '--datastore', 'etcd:http://127.0.0.1:1',
    '--state-dir', join(dir, 'state'), '--run-dir', join(dir, 'run'), '--socket', join(dir, 'agent.sock'), '--cni-conf-dir', conf, '--health-port', String(HEALTH_PORT)]);
  // Until it gives up (it exits, and the kubelet would restart it), the probes answer: live, never
  // ready; and the conf dir never holds Twill's conflist.
  const seen = { healthz: new Set<number>(), readyz: new Set<number>(), conflist: false };
  const end = Date.now() + 4000;
  while (Date.now() < end && child.exitCode === null) {
    seen.healthz.add(await probe(name, '/healthz'));
    seen.readyz.add(await probe(name, '/readyz'));
    seen.conflist ||= existsSync(join(conf, CONFLIST_NAME));
    await sleep(50);
  }
  assert.ok(seen.healthz.has(200), `the liveness probe answered while the agent started (saw ${[...seen.healthz].join(',')})`);
  assert.ok(seen.readyz.has(503) && !seen.readyz.has(200), `readiness: never 200 (saw ${[...seen.readyz].join(',')})`);
  assert.equal(seen.conflist || existsSync(join(conf, CONFLIST_NAME)), false, 'no conflist before the agent can serve ADD: the node stays NotReady');
  child.kill('SIGTERM');
});

test('kd a ready agent: /readyz 200 and its conflist in the conf dir', { skip: !isRoot && 'needs root' }, async () => {
  assert.equal(await probe(h.netns, '/readyz'), 200);
  const list = JSON.parse(readFileSync(join(confDir, CONFLIST_NAME), 'utf8')) as { plugins: { type: string; agentSocket: string }[] };
  assert.deepEqual(list.plugins, [{ type: 'twill-cni', agentSocket: h.socket }]);
});

test('kd SIGTERM outside an uninstall keeps links, routes, nft tables, conflist and pod traffic; a new agent changes no route', { skip: !isRoot && 'needs root' }, async () => {
  const pod = await h.sandbox();
  const ip = resultIp(await h.runtime.addNetworkList(h.conflist(), pod));
  assert.ok(await h.ping(pod.name, h.nodeIp), 'pod reaches its node');
  const before = await kernelState(h.netns);
  assert.match(before.links, /twl/);
  assert.match(before.routes, new RegExp(`${ip.replace(/\./g, '\\.')} dev twl.* proto 116`));
  await h.stopAgent('SIGTERM');
  assert.deepEqual(await kernelState(h.netns), before, 'nothing removed on a plain SIGTERM');
  assert.ok(existsSync(join(confDir, CONFLIST_NAME)), 'the conflist stays: the node stays Ready through a rolling update');
  assert.ok(await h.ping(pod.name, h.nodeIp), 'the pod still reaches its node with no agent running');
  await h.startAgent();
  await sleep(500);
  assert.equal((await kernelState(h.netns)).routes, before.routes, 'the next agent adopts the routes unchanged');
  await h.runtime.delNetworkList(h.conflist(), pod);
});
