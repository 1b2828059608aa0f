// Scrapes the metrics endpoint over HTTP and parses the text exposition format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { AgentMetrics } from './metrics.js';
import type { FlowRecord } from './record.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The text exposition format: # TYPE lines and samples (label values unescaped). */
export function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { types, samples };
}

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    })
      .on('error', reject)
      .end();
  });
}

const drop = { verdict: 'DROPPED', drop_reason: 'POLICY_DENIED', traffic_direction: 'INGRESS', event: 'drop', policies: [{ namespace: 'shop', name: 'db', direction: 'ingress', action: 'deny' }] } as unknown as FlowRecord;
const fwd = { verdict: 'FORWARDED', traffic_direction: 'EGRESS', event: 'new', policies: [] } as unknown as FlowRecord;

test('metrics: conventional names and types, values from events and from scrape-time sources', async () => {
  const m = new AgentMetrics('n1', {
    ipam: () => ({ allocated: 3, capacity: 62, blocks: ['10.244.1.0/26'] }),
    policyCounters: () => Promise.resolve({ policies: [{ policy: 'shop/db', ingressAllowed: { packets: 10, bytes: 600 }, egressAllowed: { packets: 0, bytes: 0 }, ingressDropped: { packets: 4, bytes: 240 }, egressDropped: { packets: 0, bytes: 0 } }], spoofed: { packets: 2, bytes: 100 } }),
    datastoreUp: () => true,
    watchResyncs: () => 1,
    flowLost: () => ({ nflog: 5, nflogOverflows: 1, conntrackOverflows: 0, ringOverwritten: 7 }),
    flowStored: () => 42,
    flowUnansweredLimited: () => Promise.resolve(9),
  });
  m.flow(drop);
  m.flow(drop);
  m.flow(fwd);
  m.flow({ ...fwd, event: 'new', unanswered: true });
  m.cniOperation('ADD', 'success', 0.03);
  m.cniOperation('DEL', 'IPAM_EXHAUSTED', 0.2);
  m.reconcile('policy', 0.004, true);
  m.reconcile('routing', 0.01, false, 'KERNEL');
  const { port } = await m.listen('127.0.0.1:0');
  try {
    const res = await get(port, '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.type, /^text\/plain; version=0\.0\.4/);
    const { types, samples } = parseExposition(res.body);
    const one = (name: string, labels: Record<string, string> = {}): number => {
      const s = samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
      assert.equal(s.length, 1, `${name} ${JSON.stringify(labels)}: ${s.length} samples`);
      return s[0]!.value;
    };
    for (const [name, type] of [
      ['twill_flows_total', 'counter'], ['twill_drops_total', 'counter'], ['twill_cni_operation_duration_seconds', 'histogram'],
      ['twill_reconcile_runs_total', 'counter'], ['twill_reconcile_duration_seconds', 'histogram'], ['twill_kernel_apply_errors_total', 'counter'],
      ['twill_policy_rule_packets_total', 'counter'], ['twill_policy_rule_bytes_total', 'counter'], ['twill_antispoof_dropped_packets_total', 'counter'],
      ['twill_ipam_addresses', 'gauge'], ['twill_datastore_connected', 'gauge'], ['twill_datastore_watch_restarts_total', 'counter'],
      ['twill_flow_events_lost_total', 'counter'], ['twill_flow_ring_records', 'gauge'],
      ['twill_flow_unanswered_attempts_total', 'counter'], ['twill_flow_unanswered_syns_limited_total', 'counter'],
    ]) assert.equal(types.get(name!), type, `${name} is a ${type}`);
    assert.equal(one('twill_flows_total', { verdict: 'DROPPED', direction: 'INGRESS', event: 'drop' }), 2);
    assert.equal(one('twill_drops_total', { reason: 'POLICY_DENIED', policy: 'shop/db' }), 2);
    assert.equal(one('twill_cni_operation_duration_seconds_count', { command: 'ADD', result: 'success' }), 1);
    assert.equal(one('twill_cni_operation_duration_seconds_bucket', { command: 'DEL', result: 'IPAM_EXHAUSTED', le: '0.1' }), 0);
    assert.equal(one('twill_cni_operation_duration_seconds_bucket', { command: 'DEL', result: 'IPAM_EXHAUSTED', le: '0.25' }), 1);
    assert.equal(one('twill_reconcile_runs_total', { controller: 'routing', result: 'error' }), 1);
    assert.equal(one('twill_kernel_apply_errors_total', { controller: 'routing' }), 1);
    assert.equal(one('twill_policy_rule_packets_total', { policy: 'shop/db', direction: 'ingress', action: 'allow' }), 10);
    assert.equal(one('twill_policy_rule_bytes_total', { policy: 'shop/db', direction: 'ingress', action: 'deny' }), 240);
    assert.equal(one('twill_antispoof_dropped_packets_total'), 2);
    assert.equal(one('twill_ipam_addresses', { state: 'free' }), 59);
    assert.equal(one('twill_datastore_connected'), 1);
    assert.equal(one('twill_flow_events_lost_total', { source: 'ring' }), 7);
    assert.equal(one('twill_flow_ring_records'), 42);
    assert.equal(one('twill_flow_unanswered_attempts_total'), 1);
    assert.equal(one('twill_flow_unanswered_syns_limited_total'), 9);
    assert.ok(samples.every((s) => s.labels['node'] === 'n1'), 'every sample names the node');
    assert.ok(samples.some((s) => s.name === 'twill_agent_process_resident_memory_bytes'));
    // Counters read from the kernel are set afresh at each scrape, not added up.
    const again = parseExposition((await get(port, '/metrics')).body);
    assert.equal(again.samples.find((s) => s.name === 'twill_antispoof_dropped_packets_total')!.value, 2);
    assert.equal((await get(port, '/other')).status, 404);
  } finally {
    await m.close();
  }
});

test('a bad metrics address is refused with the address named', async () => {
  const m = new AgentMetrics('n1', { ipam: () => ({ allocated: 0, capacity: 0, blocks: [] }) });
  await assert.rejects(m.listen('192.0.2.250:1'), /cannot serve metrics on 192\.0\.2\.250:1/);
});
