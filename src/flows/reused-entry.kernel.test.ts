// A new connection on the ports of an earlier one may run on the earlier conntrack entry and make
// no NEW event (ct-events.ts explains the kernel's rules). On a real kernel, in namespaces the test
// makes, the agent's own FlowRecorder in the node's namespace:
// - unanswered: a peer's SYN to a pod is dropped inside the pod (the node's entry stays in
//   SYN_SENT), the peer gives up, then connects again from the same source port and succeeds.
//   One record, made when the second connection is answered (none for the unanswered attempt);
// - after the peer's RST: the pod resets a connection (the entry goes to CLOSE, no FIN seen), the
//   peer connects again from the same port. Two records, the second from the logged SYN;
// - an ordinary connection: one record; a refused one: its end record only.
// Needs root.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { podPeerNode, sh } from '../../test/support/pod-peer.js';
import { TestScope } from '../../test/support/scope.js';

const isRoot = process.getuid?.() === 0;
const scope = new TestScope();
after(() => scope.cleanup());

/** Connects from a namespace, from `localPort`, and closes at once (or, with `untilReset`, is reset by the peer: a RST, not a refusal, since it comes after the handshake): "ok", or why not. */
const connect = (ns: string, ip: string, port: number, localPort: number, untilReset = false): string =>
  sh(ns, `${process.execPath} -e "let up = false; const s = require('node:net').connect({ port: ${port}, host: '${ip}', localPort: ${localPort}, timeout: 400 }, () => { up = true; if (!${untilReset}) { s.destroy(); console.log('ok'); } }); s.on('timeout', () => { s.destroy(); console.log('timeout'); }); s.on('error', (e) => console.log((up || ${untilReset}) && e.code === 'ECONNRESET' ? 'ok' : e.code))"`).trim();

test('connections that reuse an earlier connection\'s conntrack entry are recorded once each; unanswered ones make no new record', { skip: !isRoot && 'needs root' }, async () => {
  const { node, pod, peer, veth } = await podPeerNode(scope, 'reuse', '10.97');
  const servers = `const net = require('node:net'); net.createServer((s) => s.end()).listen(7003, '10.97.0.2'); net.createServer((s) => s.resetAndDestroy()).listen(7004, '10.97.0.2')`;
  scope.spawn('nsenter', [`--net=${pod}`, '--', process.execPath, '-e', servers]);

  // The agent's recorder in the node's namespace: the pod is local to node n1, the peer a pod of n2.
  const runDir = await scope.tmpdir('fl-re-');
  const mod = (p: string): string => JSON.stringify(new URL(p, import.meta.url).pathname);
  const script = `
    const { FlowRecorder } = await import(${mod('./recorder.ts')});
    const { removeCtEvents } = await import(${mod('./ct-events.ts')});
    const { indexSnapshot } = await import(${mod('../policy/snapshot.ts')});
    const { rootLogger } = await import(${mod('../util/log.ts')});
    const pod = (name, ip, node) => ({ namespace: 't', name, labels: { app: name }, ips: [ip], node, ports: [] });
    const index = indexSnapshot({ node: 'n1', namespaces: [{ name: 't', labels: {} }], pods: [pod('pod', '10.97.0.2', 'n1'), pod('peer', '10.97.1.2', 'n2')], policies: [], localEndpoints: [{ namespace: 't', name: 'pod', ip: '10.97.0.2', hostIface: ${JSON.stringify(veth)} }] });
    const r = new FlowRecorder({ node: 'n1', ringSize: 100, group: 77, runDir: ${JSON.stringify(runDir)}, context: () => ({ node: 'n1', index }), log: rootLogger });
    await r.start();
    // Each line on stdin: report the records since the last report.
    const { createInterface } = await import('node:readline');
    let cursor = 0;
    process.stdout.write(JSON.stringify({ ready: true }) + '\\n');
    for await (const line of createInterface({ input: process.stdin })) {
      await new Promise((res) => setTimeout(res, 400));
      const q = await r.query({ after: cursor });
      cursor = q.cursor;
      process.stdout.write(JSON.stringify({ records: q.records.map((x) => ({ event: x.event, sport: x.l4.TCP?.source_port, rule: x.kernel_rule ?? null })), stats: r.stats() }) + '\\n');
      if (line === 'done') break;
    }
    r.stop();
    await removeCtEvents();
    process.exit(0);
  `;
  const child = scope.spawn('nsenter', [`--net=${node}`, '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => out.includes('"ready"') && (clearInterval(t), resolve()), 50);
    child.once('exit', (code) => reject(new Error(`the node-side script exited (${code}) before it was ready: ${out}`)));
  });

  type Report = { records: { event: string; sport: number; rule: string | null }[]; stats: { recorded: { new: number; reused: number } } };
  const report = async (last = false): Promise<Report> => {
    const lines = out.split('\n').filter(Boolean).length;
    child.stdin!.write(last ? 'done\n' : 'next\n');
    await new Promise<void>((resolve) => {
      const t = setInterval(() => out.split('\n').filter(Boolean).length > lines && (clearInterval(t), resolve()), 50);
    });
    return JSON.parse(out.trim().split('\n').pop()!) as Report;
  };
  const news = (r: Report, sport: number): (string | null)[] => r.records.filter((x) => x.event === 'new' && x.sport === sport).map((x) => x.rule);

  // Unanswered, then the same ports again, answered: the first SYN from port 40123 passes the node
  // (its entry is confirmed) and is dropped inside the pod; the peer gives up.
  sh(pod, 'nft add table inet t; nft add chain inet t in "{ type filter hook input priority 0; }"; nft add rule inet t in tcp dport 7003 tcp flags syn drop');
  assert.equal(connect(peer, '10.97.0.2', 7003, 40123), 'timeout');
  sh(pod, 'nft delete table inet t');
  const unanswered = await report();
  assert.deepEqual(news(unanswered, 40123), [], `an unanswered connection makes no new record (${JSON.stringify(unanswered.records)})`);
  assert.equal(connect(peer, '10.97.0.2', 7003, 40123), 'ok');
  const entry = sh(node, 'conntrack -L -p tcp --sport 40123 2>/dev/null');
  const answered = await report();
  assert.match(entry, /ESTABLISHED|FIN_WAIT|CLOSE|TIME_WAIT/, `port 40123's entry was answered: ${entry}`);
  assert.deepEqual(news(answered, 40123), [null], `the connection on the unanswered one's entry: one record, from its first reply (${JSON.stringify(answered.records)})`);

  // The pod resets a connection from port 40125 (no FIN: the entry stays, in CLOSE), then the same ports again.
  assert.equal(connect(peer, '10.97.0.2', 7004, 40125, true), 'ok');
  assert.equal(connect(peer, '10.97.0.2', 7004, 40125, true), 'ok');
  // An ordinary connection, and a refused one (no listener: a RST answers the SYN).
  assert.equal(connect(peer, '10.97.0.2', 7003, 40124), 'ok');
  assert.equal(connect(peer, '10.97.0.2', 7005, 40126), 'ECONNREFUSED');
  const r = await report(true);
  await new Promise((res) => child.once('exit', res));
  assert.deepEqual(r.records.filter((x) => x.sport === 40126).map((x) => x.event), ['end'], 'a refused connection: its end record only, at once (the kernel drops the entry)');
  assert.deepEqual(news(r, 40125), [null, 'twill R forward'], `two connections from port 40125: the first from its first reply, the second from its logged SYN (${JSON.stringify(r.records)})`);
  assert.deepEqual(news(r, 40124), [null], 'an ordinary connection: one record');
  assert.equal(r.stats.recorded.reused, 1);
});
