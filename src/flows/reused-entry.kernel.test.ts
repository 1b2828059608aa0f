// A new connection on the ports of an earlier one may run on the earlier conntrack entry and make
// no NEW event (ct-events.ts explains the kernel's rules). On a real kernel, in namespaces the test
// makes, the agent's own FlowRecorder in the node's namespace:
// - unanswered: a peer's SYN to a pod is dropped inside the pod (the node's entry stays in
//   SYN_SENT), the peer gives up, then connects again from the same source port and succeeds.
//   No record for the attempt (one SYN, then the peer gave up), a no-reply-yet record from the
//   second connection's SYN (the entry's second packet, "twill U"), and one from its first reply;
// - after the peer's RST: the pod resets a connection (the entry goes to CLOSE, no FIN seen), the
//   peer connects again from the same port. Two records, the second from the logged SYN;
// - an ordinary connection: one record; a refused one: its end record only.
// Needs root.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { podPeerNode, sh } from '../../test/support/pod-peer.js';
import { TestScope } from '../../test/support/scope.js';
import { startNodeRecorder, type RecorderReport } from '../../test/support/node-recorder.js';

const isRoot = process.getuid?.() === 0;
const scope = new TestScope();
after(() => scope.cleanup());

/** Connects from a namespace, from `localPort`, and closes at once (or, with `untilReset`, is reset by the peer: a RST, not a refusal, since it comes after the handshake): "ok", or why not. */
const connect = (ns: string, ip: string, port: number, localPort: number, untilReset = false): string =>
  sh(ns, `${process.execPath} -e "let up = false; const s = require('node:net').connect({ port: ${port}, host: '${ip}', localPort: ${localPort}, timeout: 400 }, () => { up = true; if (!${untilReset}) { s.destroy(); console.log('ok'); } }); s.on('timeout', () => { s.destroy(); console.log('timeout'); }); s.on('error', (e) => console.log((up || ${untilReset}) && e.code === 'ECONNRESET' ? 'ok' : e.code))"`).trim();

test('connections that reuse an earlier connection\'s conntrack entry are recorded once each; an attempt given up before any retransmission makes no new record', { skip: !isRoot && 'needs root' }, async () => {
  const nodes = await podPeerNode(scope, 'reuse', '10.97');
  const { node, pod, peer } = nodes;
  const servers = `const net = require('node:net'); net.createServer((s) => s.end()).listen(7003, '10.97.0.2'); net.createServer((s) => s.resetAndDestroy()).listen(7004, '10.97.0.2')`;
  scope.spawn('nsenter', [`--net=${pod}`, '--', process.execPath, '-e', servers]);

  // The agent's recorder in the node's namespace: the pod is local to node n1, the peer a pod of n2.
  const recorder = await startNodeRecorder(scope, nodes, '10.97', 77);
  const report = (last = false): Promise<RecorderReport> => recorder.report(last);
  const news = (r: RecorderReport, sport: number): (string | null)[] => r.records.filter((x) => x.event === 'new' && x.sport === sport).map((x) => x.rule);

  // Unanswered, then the same ports again, answered: the first SYN from port 40123 passes the node
  // (its entry is confirmed) and is dropped inside the pod; the peer gives up.
  sh(pod, 'nft add table inet t; nft add chain inet t in "{ type filter hook input priority 0; }"; nft add rule inet t in tcp dport 7003 tcp flags syn drop');
  assert.equal(connect(peer, '10.97.0.2', 7003, 40123), 'timeout');
  sh(pod, 'nft delete table inet t');
  const unanswered = await report();
  assert.deepEqual(news(unanswered, 40123), [], `an unanswered attempt of one SYN makes no new record (${JSON.stringify(unanswered.records)})`);
  assert.equal(connect(peer, '10.97.0.2', 7003, 40123), 'ok');
  const entry = sh(node, 'conntrack -L -p tcp --sport 40123 2>/dev/null');
  const answered = await report();
  assert.match(entry, /ESTABLISHED|FIN_WAIT|CLOSE|TIME_WAIT/, `port 40123's entry was answered: ${entry}`);
  // Its SYN meets the confirmed unanswered entry: to the kernel a retransmission, logged ("twill U");
  // its first reply makes the ordinary record. In either order: NFLOG batches are flushed every
  // 50 ms, conntrack events polled every 50–100 ms.
  assert.deepEqual(news(answered, 40123).map(String).sort(), ['null', 'twill U forward'], `the connection on the unanswered one's entry: a no-reply-yet record from its SYN, then one from its first reply (${JSON.stringify(answered.records)})`);

  // The pod resets a connection from port 40125 (no FIN: the entry stays, in CLOSE), then the same ports again.
  assert.equal(connect(peer, '10.97.0.2', 7004, 40125, true), 'ok');
  assert.equal(connect(peer, '10.97.0.2', 7004, 40125, true), 'ok');
  // An ordinary connection, and a refused one (no listener: a RST answers the SYN).
  assert.equal(connect(peer, '10.97.0.2', 7003, 40124), 'ok');
  assert.equal(connect(peer, '10.97.0.2', 7005, 40126), 'ECONNREFUSED');
  const r = await report(true);
  assert.deepEqual(r.records.filter((x) => x.sport === 40126).map((x) => x.event), ['end'], 'a refused connection: its end record only, at once (the kernel drops the entry)');
  // Two sources again (conntrack events, NFLOG), so either order.
  assert.deepEqual(news(r, 40125).map(String).sort(), ['null', 'twill R forward'], `two connections from port 40125: the first from its first reply, the second from its logged SYN (${JSON.stringify(r.records)})`);
  assert.deepEqual(news(r, 40124), [null], 'an ordinary connection: one record');
  assert.equal(r.stats.recorded.reused, 1);
  assert.equal(r.stats.recorded.unanswered, 1, 'port 40123\'s second SYN');
});
