// A TCP attempt that is never answered is visible at its first SYN retransmission (ct-events.ts:
// "twill U"). On a real kernel, in namespaces the test makes, the agent's own FlowRecorder in the
// node's namespace: the pod connects to a peer that silently drops the SYNs to one port (an nft
// rule inside the peer). Within ~2.5 s of the connect there is exactly one record of the attempt,
// saying no reply yet, made at the first retransmission (~1 s); the later retransmissions make no
// more. An answered connection from the pod to the same peer makes no such record. Needs root.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { podPeerNode, sh } from '../../test/support/pod-peer.js';
import { TestScope } from '../../test/support/scope.js';
import { startNodeRecorder, type RecorderReport } from '../../test/support/node-recorder.js';

const isRoot = process.getuid?.() === 0;
const scope = new TestScope();
after(() => scope.cleanup());

/**
 * Connects from a namespace from `localPort`, in the background: `started` is when connect() was
 * called (ms since the epoch), `result` "ok", "timeout" (after `timeoutMs` without an answer) or
 * the error code.
 */
function connectInBackground(ns: string, ip: string, port: number, localPort: number, timeoutMs: number): { started: Promise<number>; result: Promise<string> } {
  const code = `console.log(Date.now()); const s = require('node:net').connect({ port: ${port}, host: '${ip}', localPort: ${localPort}, timeout: ${timeoutMs} }, () => { s.destroy(); console.log('ok'); }); s.on('timeout', () => { s.destroy(); console.log('timeout'); }); s.on('error', (e) => console.log(e.code))`;
  const child = scope.spawn('nsenter', [`--net=${ns}`, '--', process.execPath, '-e', code]);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  const line = (n: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const t = setInterval(() => {
        const l = out.split('\n');
        if (l.length <= n + 1) return;
        clearInterval(t);
        resolve(l[n]!.trim());
      }, 20);
      child.once('exit', (c) =>
        setTimeout(() => {
          if (out.split('\n').length > n + 1) return;
          clearInterval(t);
          reject(new Error(`the client exited (${c}): ${out}`));
        }, 100),
      );
    });
  const started = line(0).then(Number);
  const result = line(1);
  // A test that fails first ends the client: no unhandled rejection then.
  started.catch(() => undefined);
  result.catch(() => undefined);
  return { started, result };
}

test('an unanswered TCP attempt: one no-reply-yet record at its first retransmission, none for its later ones or for an answered connection', { skip: !isRoot && 'needs root' }, async () => {
  const nodes = await podPeerNode(scope, 'unans', '10.96');
  const { pod, peer } = nodes;
  // The peer answers on port 7010 and silently drops the SYNs to 7011 (counting them).
  scope.spawn('nsenter', [`--net=${peer}`, '--', process.execPath, '-e', `require('node:net').createServer((s) => s.end()).listen(7010, '10.96.1.2')`]);
  sh(peer, 'nft add table inet t; nft add chain inet t in "{ type filter hook input priority 0; }"; nft add rule inet t in tcp dport 7011 tcp flags syn counter drop');
  const recorder = await startNodeRecorder(scope, nodes, '10.96', 78);
  const about = (r: RecorderReport, sport: number): RecorderReport['records'] => r.records.filter((x) => x.sport === sport);

  // The attempt: SYNs at 0 s and, retransmitted, at ~1 s and ~3 s; the client gives up at 3.6 s.
  const attempt = connectInBackground(pod, '10.96.1.2', 7011, 41001, 3600);
  const started = await attempt.started;
  await new Promise((res) => setTimeout(res, Math.max(0, started + 2100 - Date.now())));
  const early = await recorder.report(); // read at ~2.5 s
  const seenAt = Date.now() - started;
  assert.ok(seenAt < 3000, `the records were read ${seenAt} ms after the connect, before its second retransmission`);
  assert.deepEqual(about(early, 41001).map((x) => [x.event, x.rule, x.summary, x.dport]), [['new', 'twill U forward', 'TCP SYN sent again, no reply yet', 7011]], `one record of the unanswered attempt within ~2.5 s (${JSON.stringify(early.records)})`);
  const madeAfter = about(early, 41001)[0]!.time - started;
  assert.ok(madeAfter >= 800 && madeAfter <= 2000, `made at the first retransmission (~1 s after the connect), not at the first SYN: ${madeAfter} ms`);

  assert.equal(await attempt.result, 'timeout');
  const syns = sh(peer, 'nft list chain inet t in');
  const dropped = Number(/counter packets (\d+)/.exec(syns)?.[1]);
  assert.ok(dropped >= 3, `the kernel sent the SYN and retransmitted it at least twice (the peer dropped ${dropped}): ${syns}`);
  const later = await recorder.report();
  assert.deepEqual(about(later, 41001), [], `the later retransmissions make no more records (${JSON.stringify(later.records)})`);

  // An answered connection from the pod: its ordinary record from its first reply, no no-reply-yet one.
  const answered = connectInBackground(pod, '10.96.1.2', 7010, 41002, 2000);
  assert.equal(await answered.result, 'ok');
  const last = await recorder.report(true);
  assert.deepEqual(about(last, 41002).filter((x) => x.event === 'new').map((x) => [x.rule, x.summary]), [[null, 'TCP new connection']], `an answered connection: one ordinary new record (${JSON.stringify(last.records)})`);
  assert.equal(last.stats.recorded.unanswered, 1);
});

test('a burst of hanging attempts: the node logs at most the limit\'s burst of their retransmissions, counts the rest, and the agent makes one record per logged attempt', { skip: !isRoot && 'needs root' }, async (t) => {
  const nodes = await podPeerNode(scope, 'unflood', '10.94');
  const { pod, peer } = nodes;
  sh(peer, 'nft add table inet t; nft add chain inet t in "{ type filter hook input priority 0; }"; nft add rule inet t in tcp dport 7011 tcp flags syn counter drop');
  const recorder = await startNodeRecorder(scope, nodes, '10.94', 79);
  // 400 attempts at once, each given up after 1.8 s: its SYN, and one retransmission at ~1 s.
  const n = 400;
  const code = `const net = require('node:net'); let left = ${n}; for (let i = 0; i < ${n}; i++) { const s = net.connect({ port: 7011, host: '10.94.1.2', timeout: 1800 }); const done = () => { s.destroy(); if (--left === 0) console.log('done'); }; s.on('timeout', done); s.on('error', done); }`;
  assert.equal(sh(pod, `${process.execPath} -e "${code}"`).trim(), 'done');
  const syns = Number(/counter packets (\d+)/.exec(sh(peer, 'nft list chain inet t in'))?.[1]);
  assert.equal(syns, 2 * n, 'each attempt: its SYN and one retransmission');
  const r = await recorder.report(true);
  const unanswered = r.records.filter((x) => x.rule === 'twill U forward').length;
  const limited = r.stats.unansweredLimited ?? -1;
  t.diagnostic(`${n} retransmitted SYNs: ${unanswered} logged and recorded, ${limited} limited`);
  assert.equal(unanswered + limited, n, `every retransmission either logged (one record each, ${unanswered}) or counted as limited (${limited})`);
  assert.ok(unanswered >= 200 && unanswered <= 260, `the burst (200) and the rate (100/s) over the retransmissions' spread: ${unanswered} logged`);
  assert.equal(r.stats.recorded.unanswered, unanswered);
});
