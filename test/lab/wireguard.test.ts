// encryption: wireguard in a 2-node lab (wireguard-go: this kernel has no module). What crosses
// the underlay bridge is captured: pod traffic must be WireGuard UDP only, never the payload in
// clear — also while the tunnel is down (strict mode), which a control without the strict table
// shows would otherwise leak. The tunnel outlives its agent; a key rotation is measured.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/dataplane/kernel/exec.js';
import { NFT_TABLE_ENCRYPTION, WIREGUARD_DEVICE, WIREGUARD_ROUTE_TABLE } from '../../src/dataplane/kernel/names.js';
import { LabKubelet, type PodRecord } from '../../src/lab/kubelet.js';
import type { Lab } from '../../src/lab/lab.js';
import { waitFor } from '../../src/lab/processes.js';
import { nodeDir } from '../../src/lab/state.js';
import { Capture, type Frame } from '../support/capture.js';
import { allConnected, applyYaml, podYaml, quiet, upLab } from '../support/lab.js';
import { TestScope } from '../support/scope.js';

const NAME = 'wgtest';
const PORT = 51871;
const CANARY = 'TWILL-WG-CANARY-7f3a9c';
const STREAM = join(import.meta.dirname, '..', 'support', 'udp-stream.mjs');
const scope = new TestScope();
let lab: Lab;
let p1: PodRecord;
let p2: PodRecord;

before(async () => {
  lab = await upLab(scope, NAME, { nodes: 2, encryption: 'wireguard' });
  await applyYaml(scope, lab, 'apiVersion: v1\nkind: Namespace\nmetadata: { name: w }\n---\n' + podYaml('w', 'p1', 'node-1', [80]) + podYaml('w', 'p2', 'node-2', [80]));
  const kube = new LabKubelet(lab);
  p1 = (await kube.record('w', 'p1'))!;
  p2 = (await kube.record('w', 'p2'))!;
});
after(() => scope.cleanup());

const underlay = (): Capture | Promise<Capture> => Capture.start(scope, lab.state.underlayNetns, 'br0');
const nodeIps = (): Set<string> => new Set(lab.state.nodes.map((n) => n.underlayIP));
const inPool = (ip: string): boolean => ip.startsWith('10.244.');
const hasCanary = (frames: Frame[]): number => frames.filter((f) => f.bytes.includes(CANARY)).length;
const wgPid = async (node: string): Promise<number> => Number((await readFile(join(nodeDir(NAME, node), 'run', 'wireguard', `${WIREGUARD_DEVICE}.pid`), 'utf8')).trim());

function nsNode(netns: string, args: string[]): ChildProcess {
  return scope.spawn('nsenter', [`--net=/run/netns/${netns}`, '--', process.execPath, STREAM, ...args]);
}

/** Receiver on p2, sender on p1; resolves with the receiver's report. */
async function udpStream(seconds: number, everyMs: number, during?: () => Promise<void>): Promise<{ received: number; maxGapMs: number; gaps: number[] }> {
  const recv = nsNode(p2.netns, ['recv', '9000', String(seconds + 1)]);
  let out = '';
  recv.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((r) => recv.stderr!.once('data', () => r()));
  const done = new Promise((r) => recv.once('exit', r));
  nsNode(p1.netns, ['send', p2.ip, '9000', String(seconds), String(everyMs), CANARY]);
  await during?.();
  await done;
  return JSON.parse(out) as { received: number; maxGapMs: number; gaps: number[] };
}

async function strictDrops(node: string): Promise<number> {
  const { stdout } = await run('nsenter', [`--net=/run/netns/${lab.node(node).netns}`, '--', 'nft', 'list', 'table', 'inet', NFT_TABLE_ENCRYPTION]);
  return Number(/counter packets (\d+)/.exec(stdout)?.[1] ?? NaN);
}

test('wg: pod traffic crosses the underlay only as WireGuard UDP; the payload never appears', { timeout: 60_000 }, async () => {
  const cap = await underlay();
  // TCP both ways through the pod servers (reachability), plus a UDP stream carrying the canary.
  const probe = await allConnected(lab, 2000);
  assert.ok(probe.ok, `every pod reaches every pod: ${JSON.stringify(probe.failed)}`);
  const s = await udpStream(2, 5);
  assert.ok(s.received > 200, `the stream arrived (${s.received} datagrams)`);
  // Control: the same canary between the two nodes' own addresses (node traffic is not
  // encrypted by default) must show up, or this capture could not see a leak at all.
  // ICMP with the canary's first 16 bytes as ping's fill pattern, node-1 → node-2's own address.
  await run('nsenter', [`--net=/run/netns/${lab.node('node-1').netns}`, '--', 'ping', '-c', '3', '-i', '0.2', '-p', Buffer.from(CANARY.slice(0, 16)).toString('hex'), lab.node('node-2').underlayIP]);
  const frames = await cap.stop();
  const seen = [...new Set(frames.map((f) => (f.ipv4 ? `${f.ipv4.src}>${f.ipv4.dst}/${f.ipv4.proto}:${f.ipv4.dport ?? ''}` : 'non-ip')))].join(' ');
  assert.ok(frames.filter((f) => f.bytes.includes(CANARY.slice(0, 16))).length >= 1, `control: the capture sees a payload sent in clear between nodes (${frames.length} frames: ${seen})`);
  const nodes = nodeIps();
  const between = frames.filter((f) => f.ipv4 && nodes.has(f.ipv4.src) && nodes.has(f.ipv4.dst));
  const wg = between.filter((f) => f.ipv4!.proto === 17 && (f.ipv4!.dport === PORT || f.ipv4!.sport === PORT));
  const control = (f: Frame): boolean => f.ipv4?.proto === 1; // the ping control
  const other = between.filter((f) => !wg.includes(f) && !control(f));
  assert.ok(wg.length > 200, `pod traffic travelled as WireGuard UDP to port ${PORT} (${wg.length} packets)`);
  // From the port too: nothing rewrites the tunnel's own packets (once the services table
  // masqueraded them, their fwmark carrying its bit, and peers roamed to random ports).
  const natted = [...new Set(wg.filter((f) => f.ipv4!.sport !== PORT || f.ipv4!.dport !== PORT).map((f) => `${f.ipv4!.src}:${f.ipv4!.sport}>${f.ipv4!.dst}:${f.ipv4!.dport}`))];
  assert.deepEqual(natted, [], `WireGuard packets go from port ${PORT} to port ${PORT}`);
  assert.deepEqual(other.map((f) => f.ipv4), [], 'no other packet between the nodes (no VXLAN, no plain pod packet)');
  assert.equal(frames.filter((f) => f.ipv4 && (inPool(f.ipv4.src) || inPool(f.ipv4.dst))).length, 0, 'no pod address on the wire');
  assert.equal(hasCanary(frames.filter((f) => !control(f))), 0, 'the pod payload never appears on the underlay');
});

test('wg: wireguard-go killed → pod traffic dropped (strict), not leaked; the agent restarts it; without the strict table it would leak', { timeout: 90_000 }, async () => {
  // With node-1's agent stopped nothing restarts the tunnel: the strict table alone must hold.
  await lab.stopAgent('node-1', 'SIGKILL');
  const pid = await wgPid('node-1');
  process.kill(pid, 'SIGKILL');
  await waitFor('twill-wg gone', async () => (await run('ip', ['-n', lab.node('node-1').netns, 'link', 'show', WIREGUARD_DEVICE]).then(() => false, () => true)), 5000);
  const drops0 = await strictDrops('node-1');
  let cap = await underlay();
  let s = await udpStream(1, 5);
  let frames = await cap.stop();
  assert.equal(s.received, 0, 'nothing arrives while the tunnel is down');
  assert.ok((await strictDrops('node-1')) - drops0 > 100, 'the strict rule dropped the stream');
  assert.equal(hasCanary(frames), 0, 'nothing leaked while the tunnel was down');
  assert.equal(frames.filter((f) => f.ipv4 && (inPool(f.ipv4.src) || inPool(f.ipv4.dst) || f.ipv4.dport === 4789)).length, 0, 'no pod packet, no VXLAN on the wire');
  // Control: the same situation without the strict table leaks in clear through the backend.
  await run('ip', ['netns', 'exec', lab.node('node-1').netns, 'nft', 'delete', 'table', 'inet', NFT_TABLE_ENCRYPTION]);
  cap = await underlay();
  s = await udpStream(1, 5);
  frames = await cap.stop();
  assert.ok(hasCanary(frames) > 0 && s.received > 0, 'control: without strict mode the payload crosses the underlay in clear');
  // The agent comes back, re-installs the table and the tunnel.
  const t0 = Date.now();
  await lab.startAgent('node-1');
  await waitFor('tunnel back', async () => (await allConnected(lab, 500)).ok, 20_000, 100);
  console.log(`[wg] agent start → full reachability through a new wireguard-go: ${Date.now() - t0} ms`);
  assert.ok((await strictDrops('node-1')) >= 0, 'the strict table is back');
  // The watchdog: with the agent running, a killed wireguard-go is replaced within a second.
  process.kill(await wgPid('node-1'), 'SIGKILL');
  const t1 = Date.now();
  cap = await underlay();
  s = await udpStream(3, 5);
  frames = await cap.stop();
  console.log(`[wg] wireguard-go SIGKILL with the agent up: longest gap ${s.maxGapMs} ms, ${s.received} datagrams in 3 s`);
  assert.ok(s.received > 200, `the stream resumed (${s.received} datagrams)`);
  assert.equal(hasCanary(frames), 0, 'nothing leaked during the restart');
  assert.ok(Date.now() - t1 < 10_000);
});

/** Encryption changes each node's agent made since it started, with its last actions and log. */
async function changesSinceStart(): Promise<string[]> {
  const out: string[] = [];
  for (const n of ['node-1', 'node-2']) {
    const st = (await lab.agentStatus(n)) as unknown as { encryption: { reconcile: { totalChanges: number }; lastActions?: string[] } };
    const log = (await readFile(join(nodeDir(NAME, n), 'agent.log'), 'utf8')).split('\n').filter((l) => /encryption|cluster/.test(l)).slice(-15).join('\n');
    if (st.encryption.reconcile.totalChanges !== 0) out.push(`${n}: ${st.encryption.lastActions?.join('; ')}\n${log}`);
  }
  return out;
}

test('wg: agent SIGKILL during a stream keeps the stream and the tunnel (same wireguard-go); the restarted agents change nothing', { timeout: 90_000 }, async () => {
  const pids = { n1: await wgPid('node-1'), n2: await wgPid('node-2') };
  const s = await udpStream(6, 5, async () => {
    await new Promise((r) => setTimeout(r, 1500));
    await lab.stopAgent('node-1', 'SIGKILL');
    await lab.stopAgent('node-2', 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    await lab.startAgent('node-1');
    await lab.startAgent('node-2');
  });
  console.log(`[wg] agents SIGKILLed and restarted mid-stream: longest gap ${s.maxGapMs} ms, ${s.received} datagrams`);
  assert.ok(s.maxGapMs < 200, `no gap in the stream (longest ${s.maxGapMs} ms)`);
  assert.equal(await wgPid('node-1'), pids.n1, 'node-1 re-attached to the same wireguard-go');
  assert.equal(await wgPid('node-2'), pids.n2, 'node-2 re-attached to the same wireguard-go');
  await lab.waitEncrypted(true);
  const changed = await changesSinceStart();
  assert.deepEqual(changed, [], changed.join('\n'));
});

// The same with both agents down longer than the lease (under load a restart can take that
// long): the TwillNodes vanish, yet the nodes' pods and wireguard-go run on. Each agent holds the
// other's peer while its blocks are still its own, so nothing is removed and added back.
test('wg: agents down longer than their lease: the tunnel and the stream go on; the restarted agents change nothing', { timeout: 90_000 }, async () => {
  const store = await lab.store();
  const s = await udpStream(lab.state.leaseTtlSeconds + 6, 5, async () => {
    await new Promise((r) => setTimeout(r, 1000));
    await lab.stopAgent('node-1', 'SIGKILL');
    await lab.stopAgent('node-2', 'SIGKILL');
    await waitFor('both TwillNodes gone with their leases', async () => !(await store.get('TwillNode', 'node-1')) && !(await store.get('TwillNode', 'node-2')), (lab.state.leaseTtlSeconds + 3) * 1000, 100);
    await lab.startAgent('node-1');
    await lab.startAgent('node-2');
  });
  console.log(`[wg] agents down past their lease: longest gap ${s.maxGapMs} ms, ${s.received} datagrams`);
  assert.ok(s.maxGapMs < 200, `no gap in the stream (longest ${s.maxGapMs} ms)`);
  await lab.waitEncrypted(true);
  const changed = await changesSinceStart();
  assert.deepEqual(changed, [], changed.join('\n'));
  const log = await readFile(join(nodeDir(NAME, 'node-1'), 'agent.log'), 'utf8');
  assert.match(log, /holding the WireGuard peer of a node whose TwillNode is gone.*peer=node-2/, 'node-1 said it held node-2\'s peer');
});

test('wg: key rotation during a stream — peers follow, pods untouched; the gap is measured', { timeout: 60_000 }, async () => {
  const before = (await lab.agentStatus('node-2')).encryption!.publicKey;
  let rotatedAt = 0;
  let visibleAt = 0;
  const s = await udpStream(5, 2, async () => {
    await new Promise((r) => setTimeout(r, 1500));
    rotatedAt = Date.now();
    const r = await import('../../src/cli/client.js').then((m) => m.agentRequest<{ publicKey: string }>(lab.socket('node-2'), 'POST', '/v1/encryption/rotate-key', {}, 10_000));
    assert.notEqual(r.publicKey, before);
    await waitFor('node-1 knows the new key', async () => (await lab.agentStatus('node-1')).encryption!.device!.peers!.some((p) => p.publicKey === r.publicKey), 5000, 5);
    visibleAt = Date.now();
  });
  console.log(`[wg] key rotation: longest gap ${s.maxGapMs} ms (gaps > 20 ms: ${s.gaps.join(', ') || 'none'}); peer updated ${visibleAt - rotatedAt} ms after the rotate call`);
  assert.ok(s.received > 1000, `the stream went on (${s.received} datagrams)`);
  assert.ok(s.maxGapMs < 2000, `rotation gap ${s.maxGapMs} ms stays under 2 s`);
  const key = await readFile(join(nodeDir(NAME, 'node-2'), 'state', 'wireguard', 'private.key'));
  assert.ok(!(await readFile(join(nodeDir(NAME, 'node-2'), 'agent.log'), 'utf8')).includes(key.toString().trim()), 'the private key is never logged');
  const mode = (await run('stat', ['-c', '%a', join(nodeDir(NAME, 'node-2'), 'state', 'wireguard', 'private.key')])).stdout.trim();
  assert.equal(mode, '600');
  assert.ok((await allConnected(lab, 1000)).ok);
});

test('wg: host-gw and vxlan directRouting go through the tunnel too (backend switched under encryption)', { timeout: 90_000 }, async () => {
  for (const [backend, direct] of [['host-gw', false], ['vxlan', true]] as const) {
    await lab.setBackend(backend, direct, () => undefined);
    await lab.waitEncrypted(true);
    const cap = await underlay();
    const probe = await allConnected(lab, 2000);
    const s = await udpStream(1, 5);
    const frames = await cap.stop();
    const label = `${backend}${direct ? ' + directRouting' : ''}`;
    assert.ok(probe.ok, `${label}: every pod reaches every pod`);
    assert.ok(s.received > 100, `${label}: the stream arrived (${s.received})`);
    const nodes = nodeIps();
    const clear = frames.filter((f) => f.ipv4 && ((nodes.has(f.ipv4.src) && nodes.has(f.ipv4.dst) && !(f.ipv4.proto === 17 && (f.ipv4.dport === PORT || f.ipv4.sport === PORT))) || inPool(f.ipv4.src) || inPool(f.ipv4.dst)));
    assert.deepEqual(clear.map((f) => f.ipv4), [], `${label}: only WireGuard between the nodes`);
    assert.equal(hasCanary(frames), 0, `${label}: the payload never appears`);
  }
});

/** Index of the first WireGuard transport-data frame (type 4, more than a keepalive) from `src`. */
/**
 * WireGuard's control messages (1 initiation, 2 response, 3 cookie) and ICMP errors on the
 * underlay, in capture order, with data frames counted between them: what a slow switch-on
 * did, for the log (a lost first initiation costs REKEY_TIMEOUT, 5 s).
 */
function handshakeTrace(frames: Frame[]): string {
  const nodeOf = new Map(lab.state.nodes.map((n) => [n.underlayIP, n.name]));
  const name = (ip: string): string => nodeOf.get(ip) ?? ip;
  const t0 = frames[0]?.atMs ?? 0;
  const out: string[] = [];
  let data = 0;
  for (const f of frames) {
    const v4 = f.ipv4;
    if (!v4) continue;
    const at = `+${Math.round(f.atMs - t0)}ms`;
    if (v4.proto === 1 && f.bytes[14 + (f.bytes[14]! & 0x0f) * 4] === 3) {
      out.push(`${at} ICMP unreachable ${name(v4.src)}→${name(v4.dst)}`);
      continue;
    }
    if (v4.proto !== 17 || (v4.dport !== PORT && v4.sport !== PORT)) continue;
    const type = f.bytes[14 + (f.bytes[14]! & 0x0f) * 4 + 8];
    if (type === 4) { data++; continue; }
    if (data) out.push(`${data} data`);
    data = 0;
    out.push(`${at} ${type === 1 ? 'initiation' : type === 2 ? 'response' : type === 3 ? 'cookie' : `type ${type}`} ${name(v4.src)}→${name(v4.dst)}`);
  }
  if (data) out.push(`${data} data`);
  return out.join('; ') || 'no WireGuard frames';
}

function firstTunnelData(frames: Frame[], src: string): number {
  return frames.findIndex((f) => {
    if (f.ipv4?.src !== src || f.ipv4.proto !== 17 || f.ipv4.dport !== PORT) return false;
    const udp = 14 + (f.bytes[14]! & 0x0f) * 4 + 8;
    return f.bytes[udp] === 4 && f.bytes.length - udp > 32;
  });
}

// Node traffic: with `nodeTraffic`, what a node itself sends to a remote pod is encrypted too.
// A ping from node-1's own namespace to p2 carries the canary as its fill pattern.
test('wg: node → remote pod: reaches it through the tunnel; with nodeTraffic the reply is encrypted too, nothing crosses in clear', { timeout: 60_000 }, async () => {
  const pattern = Buffer.from(CANARY.slice(0, 16)).toString('hex');
  const nodePing = (): Promise<string> => run('nsenter', [`--net=/run/netns/${lab.node('node-1').netns}`, '--', 'ping', '-c', '5', '-i', '0.2', '-W', '2', '-p', pattern, p2.ip]).then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '');
  // Without nodeTraffic: the request enters the tunnel (the pod block's route) with node-1's
  // address as source, which node-2 must accept; the reply, to a node address, goes in clear.
  let cap = await underlay();
  let ping = await nodePing();
  let frames = await cap.stop();
  assert.match(ping, / 0% packet loss/, `nodeTraffic off: node-1 reaches p2:\n${ping}`);
  const seen = (fs: Frame[]): string => [...new Set(fs.map((f) => (f.ipv4 ? `${f.ipv4.src}>${f.ipv4.dst}/${f.ipv4.proto}` : 'non-ip')))].join(' ');
  assert.equal(frames.filter((f) => f.ipv4?.dst === p2.ip || (f.ipv4?.dst === lab.node('node-2').underlayIP && f.ipv4.proto === 1)).length, 0, `nodeTraffic off: the request never crosses in clear (${seen(frames)})`);
  const store = await lab.store();
  const cur = (await store.get('ClusterConfig', 'default'))!;
  await store.update({ ...cur, spec: { ...cur.spec, wireguard: { ...cur.spec.wireguard!, nodeTraffic: true } } });
  const n1 = lab.node('node-1').underlayIP;
  const n2 = lab.node('node-2').underlayIP;
  // Peers always allow each other's node address as a source; what nodeTraffic adds is the route
  // to it through the tunnel, on both nodes (the reply must take it too): wait for the kernel's.
  const tunnelRoute = async (node: string, to: string): Promise<boolean> => {
    const r = await run('ip', ['-n', lab.node(node).netns, 'route', 'show', 'table', String(WIREGUARD_ROUTE_TABLE), `${to}/32`]);
    return r.stdout.includes(WIREGUARD_DEVICE);
  };
  await waitFor('each node routes the other\'s node address through the tunnel', async () => (await tunnelRoute('node-1', n2)) && (await tunnelRoute('node-2', n1)), 10_000, 50);
  cap = await underlay();
  ping = await nodePing();
  frames = await cap.stop();
  assert.match(ping, / 0% packet loss/, `node-1 reaches p2 through the tunnel:\n${ping}`);
  assert.equal(frames.filter((f) => f.bytes.includes(CANARY.slice(0, 16))).length, 0, 'the node\'s payload never appears on the underlay');
  assert.ok(firstTunnelData(frames, n1) >= 0, 'node-1 sent tunnel data to node-2');
  assert.equal(frames.filter((f) => f.ipv4 && (inPool(f.ipv4.src) || inPool(f.ipv4.dst) || f.ipv4.proto === 1)).length, 0, 'no pod address and no ICMP on the wire');
  await store.update({ ...(await store.get('ClusterConfig', 'default'))!, spec: { ...cur.spec } });
});

// Switching encryption off and on a running cluster: pods keep running; the stream's gap is the
// switch window. Once node-1's tunnel carries the stream, nothing of it is sent in clear again.
test('wg: encryption switched off and on under a stream: pods untouched, the windows measured, no clear after the tunnel carries', { timeout: 120_000 }, async () => {
  const n1 = lab.node('node-1').underlayIP;
  let took = 0;
  let cap = await underlay();
  let s = await udpStream(5, 5, async () => {
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    await lab.setEncryption('none', quiet);
    took = Date.now() - t0;
  });
  let frames = await cap.stop();
  console.log(`[wg] encryption switched off mid-stream: longest gap ${s.maxGapMs} ms (gaps > 20 ms: ${s.gaps.join(', ') || 'none'}); every agent off after ${took} ms`);
  assert.ok(s.received > 500, `the stream went on (${s.received} datagrams)`);
  assert.ok(hasCanary(frames) > 0, 'switched off: the stream now crosses in clear (what was asked for)');
  assert.ok((await allConnected(lab, 2000)).ok, 'off: every pod reaches every pod');

  cap = await underlay();
  s = await udpStream(7, 5, async () => {
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    await lab.setEncryption('wireguard', quiet);
    took = Date.now() - t0;
  });
  frames = await cap.stop();
  console.log(`[wg] encryption switched on mid-stream: longest gap ${s.maxGapMs} ms (gaps > 20 ms: ${s.gaps.join(', ') || 'none'}); every node has every peer after ${took} ms`);
  if (s.maxGapMs > 1000) console.log(`[wg] switch-on handshakes: ${handshakeTrace(frames)}`);
  const first = firstTunnelData(frames, n1);
  assert.ok(first >= 0, 'node-1\'s tunnel carried the stream');
  assert.ok(hasCanary(frames.slice(0, first)) > 0, 'control: the stream was in clear before the switch');
  assert.equal(hasCanary(frames.slice(first)), 0, 'once the tunnel carried the stream, none of it went in clear');
  assert.ok(s.received > 500, `the stream resumed (${s.received} datagrams)`);
  assert.ok(s.maxGapMs < 5000, `switch-on window ${s.maxGapMs} ms`);
  const again = new LabKubelet(lab);
  assert.equal((await again.record('w', 'p1'))?.netns, p1.netns, 'p1 kept its sandbox');
  assert.equal((await again.record('w', 'p2'))?.ip, p2.ip, 'p2 kept its address');
  assert.ok((await allConnected(lab, 2000)).ok, 'on: every pod reaches every pod');
});
