// Records are resolved with the evaluator behind `policy explain`: for every pair of pods and
// ports in the shop fixture, a record's identities and policies are exactly explain's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy } from '../policy/compile.js';
import { evaluate, formatRuleRef } from '../policy/evaluate.js';
import { indexSnapshot } from '../policy/snapshot.js';
import { PODS, shopSnapshot } from '../policy/testing/fixtures.js';
import type { CtEvent } from '../dataplane/kernel/conntrack.js';
import { flowFromConntrack, flowFromNflog, parsePrefix, type FlowContext, type FlowPolicy } from './record.js';
import { formatCompact, formatJson, formatTable, isUnanswered } from './format.js';

const snap = shopSnapshot();
const model = compilePolicy(snap, { log: { group: 100, rate: 1000, burst: 100 } });
const ctx: FlowContext = { node: 'n1', index: indexSnapshot(snap), info: model.info };
const now = new Date('2026-12-02T06:00:00Z');
const ct = (src: string, dst: string, dport: number, type: CtEvent['type'] = 'new'): CtEvent => ({ type, orig: { family: 4, src, dst, proto: 6, srcPort: 40000, dstPort: dport }, nat: false, id: 7 });

test('a record names the pods, labels and deciding policies that policy explain names', () => {
  let compared = 0;
  for (const a of PODS) {
    for (const b of PODS) {
      if (a === b || !a.ips[0] || !b.ips[0]) continue;
      for (const port of [80, 5432, 53, 8080, 9050]) {
        const r = flowFromConntrack(ctx, ct(a.ips[0], b.ips[0], port), now);
        const local = a.node === 'n1' || b.node === 'n1';
        assert.equal(r !== undefined, local, 'records exist exactly for flows touching a local pod');
        if (!r) continue;
        const v = evaluate(snap, { src: { ip: a.ips[0] }, dst: { ip: b.ips[0] }, protocol: 'TCP', port });
        assert.equal(`${r.source.namespace}/${r.source.pod_name}`, v.src.kind === 'pod' ? v.src.pod : '');
        assert.equal(`${r.destination.namespace}/${r.destination.pod_name}`, v.dst.kind === 'pod' ? v.dst.pod : '');
        assert.deepEqual(r.source.labels, Object.entries(a.labels).map(([k, x]) => `${k}=${x}`));
        for (const [dir, side] of [['egress', v.egress], ['ingress', v.ingress]] as const) {
          const mine: FlowPolicy[] = r.policies.filter((p) => p.direction === dir);
          if (side.deciding) assert.deepEqual(mine.map((p) => `${p.namespace}/${p.name} ${dir}[${p.rule}]`), [formatRuleRef({ ...side.deciding, peer: undefined, port: undefined })]);
          else if (side.isolated) assert.deepEqual(mine.map((p) => `${p.namespace}/${p.name}`), side.policies);
          else assert.deepEqual(mine, []);
        }
        compared++;
      }
    }
  }
  assert.ok(compared >= 60, `compared ${compared} flows`);
});

test('direction: egress from a local pod, ingress to one; a world end is reserved:world', () => {
  const out = flowFromConntrack(ctx, ct('10.244.1.10', '192.0.2.9', 443), now)!;
  assert.equal(out.traffic_direction, 'EGRESS');
  assert.deepEqual(out.destination, { kind: 'world', ip: '192.0.2.9', labels: ['reserved:world'] });
  assert.equal(out.policy_decision.egress, 'denied, no rule of shop/allow-dns, shop/default-deny, shop/web allows it (default deny)');
  const inn = flowFromConntrack(ctx, ct('10.244.2.40', '10.244.1.20', 9050), now)!;
  assert.equal(inn.traffic_direction, 'INGRESS');
  assert.equal(inn.policy_decision.ingress, 'allowed by shop/metrics ingress[0]');
  assert.deepEqual(inn.policies, [{ namespace: 'shop', name: 'metrics', direction: 'ingress', rule: 0, action: 'allow' }]);
});

test('an end event carries counts and the connection duration', () => {
  const ev: CtEvent = { ...ct('10.244.1.10', '10.244.1.20', 80, 'destroy'), origCounters: { packets: 5, bytes: 300 }, replyCounters: { packets: 4, bytes: 900 }, startNs: 1.7e18, stopNs: 1.7e18 + 2.5e9 };
  const r = flowFromConntrack(ctx, ev, now)!;
  assert.equal(r.event, 'end');
  assert.deepEqual(r.counters, { packets: 5, bytes: 300, reply_packets: 4, reply_bytes: 900, duration_seconds: 2.5 });
  assert.equal(r.time, new Date((1.7e18 + 2.5e9) / 1e6).toISOString());
});

test('an NFLOG drop names the group\'s policies, as the kernel chose them; a spoofed packet says so', () => {
  const g = model.info.groups.find((x) => x.direction === 'ingress' && x.family === 4 && x.members.includes('shop/api-1'))!;
  const pkt = { prefix: `twill D ${g.name}`, headers: { family: 4 as const, src: '10.244.2.40', dst: '10.244.1.20', proto: 6, srcPort: 1234, dstPort: 80, length: 60 } };
  const r = flowFromNflog(ctx, pkt, now)!;
  assert.equal(r.verdict, 'DROPPED');
  assert.equal(r.drop_reason, 'POLICY_DENIED');
  assert.equal(r.traffic_direction, 'INGRESS');
  assert.deepEqual(r.policies.filter((p) => p.direction === 'ingress').map((p) => `${p.namespace}/${p.name}`), g.policies);
  const v = evaluate(snap, { src: { ip: '10.244.2.40' }, dst: { ip: '10.244.1.20' }, protocol: 'TCP', port: 80 });
  assert.equal(v.ingress.allowed, false);
  assert.deepEqual(v.ingress.policies, g.policies, 'the kernel group and the evaluator agree');
  const s = flowFromNflog(ctx, { prefix: 'twill S antispoof', headers: { ...pkt.headers, src: '10.9.9.9', dst: '10.244.1.20' } }, now)!;
  assert.equal(s.drop_reason, 'INVALID_SOURCE_IP');
  assert.equal(flowFromNflog(ctx, { prefix: 'twill A pi_000000000000', headers: pkt.headers }, now), undefined, 'accepts make no record');
  assert.equal(flowFromNflog(ctx, { prefix: 'something else', headers: pkt.headers }, now), undefined);
});

test('a SYN sent again on an unanswered entry ("twill U") is a new record that says no reply yet, in every format', () => {
  const headers = { family: 4 as const, src: '10.244.1.10', dst: '10.244.2.30', proto: 6, srcPort: 40000, dstPort: 5432, length: 60, tcpFlags: 2, tcpSeq: 1000 };
  const u = { id: 5, ...flowFromNflog(ctx, { prefix: 'twill U forward', headers }, now)! };
  assert.deepEqual([u.event, u.verdict, u.traffic_direction, u.kernel_rule, u.Summary], ['new', 'FORWARDED', 'EGRESS', 'twill U forward', 'TCP SYN sent again, no reply yet']);
  assert.equal(isUnanswered(u), true);
  assert.match(formatCompact(u), /^Dec {2}2 06:00:00\.000 \[n1\]: shop\/web-1:40000 -> shop\/db-1:5432 TCP EGRESS FORWARDED \(no reply yet\) egress: /);
  assert.match(formatTable([u], false), / tcp egress new {2}FORWARDED \(no reply yet\) {2}egress: /);
  const j = JSON.parse(formatJson(u)) as Record<string, unknown>;
  assert.deepEqual([j['event'], j['kernel_rule'], j['Summary']], ['new', 'twill U forward', 'TCP SYN sent again, no reply yet']);
  // The same connection's record from its first reply, and one from a reused answered entry, are plain new ones.
  const answered = { id: 6, ...flowFromConntrack(ctx, { ...ct('10.244.1.10', '10.244.2.30', 5432), type: 'new' }, now)! };
  assert.deepEqual([answered.event, isUnanswered(answered), answered.Summary], ['new', false, 'TCP new connection']);
  assert.doesNotMatch(formatCompact(answered), /no reply/);
  const reused = { id: 7, ...flowFromNflog(ctx, { prefix: 'twill R forward', headers }, now)! };
  assert.deepEqual([isUnanswered(reused), reused.Summary], [false, 'TCP new connection (its SYN reused a conntrack entry)']);
  assert.deepEqual(parsePrefix('twill U output'), { kind: 'U', chain: 'output' });
});
