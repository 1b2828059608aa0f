// The twill-flows table on a real kernel (ct-events.ts), in namespaces the test makes: with it and
// nf_conntrack_events = 0, connections through a pod's veth (node → pod, pod → node, forwarded to
// a pod) make NEW and DESTROY events, read by the agent's own ConntrackEvents (the polled socket);
// a connection that touches no pod veth (loopback) makes none. removeCtEvents puts the kernel's
// default back. Needs root.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { podPeerNode, sh } from '../../test/support/pod-peer.js';
import { TestScope } from '../../test/support/scope.js';

const isRoot = process.getuid?.() === 0;
const scope = new TestScope();
after(() => scope.cleanup());

/** A TCP listener in a namespace for the life of the test. */
function listen(ns: string, ip: string, port: number): void {
  const code = `require('node:net').createServer((s) => s.end()).listen(${port}, ${JSON.stringify(ip)})`;
  scope.spawn('nsenter', [`--net=${ns}`, '--', process.execPath, '-e', code]);
}

/** Connects from a namespace and closes at once. */
const connect = (ns: string, ip: string, port: number): string =>
  sh(ns, `${process.execPath} -e "const s = require('node:net').connect(${port}, '${ip}', () => { s.end(); console.log('ok'); }); s.on('error', (e) => { console.log(e.code); })"`);

test('conntrack events only for connections through a pod veth, with the twill-flows table', { skip: !isRoot && 'needs root' }, async () => {
  const { node, pod, peer } = await podPeerNode(scope, 'ctev', '10.98');
  listen(pod, '10.98.0.2', 7003);

  // In the node's namespace: install, listen with the agent's reader, make the connections,
  // flush conntrack (every entry's DESTROY), print what was read and the sysctl, then undo.
  const runDir = await scope.tmpdir('fl-ct-');
  const ct = JSON.stringify(new URL('./ct-events.ts', import.meta.url).pathname);
  const conn = JSON.stringify(new URL('../dataplane/kernel/conntrack.ts', import.meta.url).pathname);
  const script = `
    const { installCtEvents, removeCtEvents } = await import(${ct});
    const { ConntrackEvents } = await import(${conn});
    const { createServer, connect } = await import('node:net');
    const { execFileSync } = await import('node:child_process');
    const { readFileSync } = await import('node:fs');
    const sysctl = () => readFileSync('/proc/sys/net/netfilter/nf_conntrack_events', 'utf8').trim();
    const before = sysctl();
    await installCtEvents(${JSON.stringify(runDir)});
    const events = [];
    const c = await ConntrackEvents.open((evs) => events.push(...evs.map((e) => ({ type: e.type, dst: e.orig.dst, port: e.orig.dstPort }))));
    const srv = (port, ip) => new Promise((r) => createServer((s) => s.end()).listen(port, ip, r));
    await srv(7001, '127.0.0.1');
    await srv(7002, '10.98.0.1');
    const dial = (port, ip) => new Promise((r) => { const s = connect(port, ip, () => { s.end(); r('ok'); }); s.on('error', (e) => r(e.code)); });
    const dialed = { loopback: await dial(7001, '127.0.0.1'), nodeToPod: await dial(7003, '10.98.0.2') };
    process.stdout.write(JSON.stringify({ ready: true }) + '\\n');
    await new Promise((r) => process.stdin.once('data', r));
    await new Promise((r) => setTimeout(r, 300));
    execFileSync('conntrack', ['-F'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    c.close();
    const during = sysctl();
    const removed = await removeCtEvents();
    const table = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
    process.stdout.write(JSON.stringify({ before, during, after: sysctl(), removed, table, dialed, mode: c.mode, events }) + '\\n');
    process.exit(0);
  `;
  const child = scope.spawn('nsenter', [`--net=${node}`, '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => out.includes('"ready"') && (clearInterval(t), resolve()), 50);
    child.once('exit', (code) => reject(new Error(`the node-side script exited (${code}) before it was ready: ${out}`)));
  });
  // pod → node (input) and a peer → pod (forwarded), from their own namespaces.
  assert.equal(connect(pod, '10.98.0.1', 7002).trim(), 'ok');
  assert.equal(connect(peer, '10.98.0.2', 7003).trim(), 'ok');
  child.stdin!.write('go\n');
  await new Promise((r) => child.once('exit', r));
  const r = JSON.parse(out.trim().split('\n').pop()!) as { before: string; during: string; after: string; removed: boolean; table: string; dialed: Record<string, string>; mode: string; events: { type: string; dst: string; port: number }[] };
  assert.deepEqual(r.dialed, { loopback: 'ok', nodeToPod: 'ok' });
  assert.equal(r.before, '2', 'a fresh namespace starts at the kernel default');
  assert.equal(r.during, '0');
  assert.equal(r.mode, 'poll');
  const seen = (type: string, dst: string, port: number): number => r.events.filter((e) => e.type === type && e.dst === dst && e.port === port).length;
  for (const [what, dst, port] of [['pod → node', '10.98.0.1', 7002], ['node → pod', '10.98.0.2', 7003]] as const) {
    assert.equal(seen('new', dst, port) >= 1, true, `${what}: a NEW event (${JSON.stringify(r.events)})`);
    assert.equal(seen('destroy', dst, port) >= 1, true, `${what}: a DESTROY event`);
  }
  assert.equal(seen('new', '10.98.0.2', 7003), 2, 'node → pod and the forwarded peer → pod: two NEW events');
  assert.equal(r.events.filter((e) => e.dst === '127.0.0.1').length, 0, 'loopback touches no pod veth: no event at all');
  assert.equal(r.removed, true);
  assert.equal(r.after, '2', 'removeCtEvents puts the kernel default back');
  assert.doesNotMatch(r.table, /twill-flows/);
});
