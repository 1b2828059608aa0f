// Prometheus metrics of one agent (prom-client), served on --metrics-addr only. Event counts
// (flows, drops, CNI operations, reconcile runs) are counted as they happen; numbers that live
// elsewhere (the kernel's rule counters, IPAM usage, datastore state, lost events) are read at
// scrape time. Names follow Prometheus conventions: base units, `_total` for counters.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CounterReport } from '../policy/explain.js';
import { TwillError } from '../util/errors.js';
import type { LostCounts, RecordEvent } from './recorder.js';

/** What the scrape reads from the agent. */
export interface MetricsSources {
  policyCounters?: () => Promise<CounterReport | undefined>;
  ipam: () => { allocated: number; capacity: number; blocks: string[] };
  datastoreUp?: () => boolean;
  watchResyncs?: () => number;
  flowLost?: () => LostCounts;
  flowStored?: () => number;
  /** SYNs on unanswered entries the twill-flows table's rate limit kept from the log (ct-events.ts). */
  flowUnansweredLimited?: () => Promise<number | undefined>;
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly flows: Counter<'verdict' | 'direction' | 'event'>;
  private readonly drops: Counter<'reason' | 'policy'>;
  private readonly unanswered: Counter;
  private readonly cni: Histogram<'command' | 'result'>;
  private readonly reconcileRuns: Counter<'controller' | 'result'>;
  private readonly reconcileSeconds: Histogram<'controller'>;
  private readonly applyErrors: Counter<'controller'>;
  private server: Server | undefined;

  constructor(node: string, src: MetricsSources) {
    const r = this.registry;
    r.setDefaultLabels({ node });
    collectDefaultMetrics({ register: r, prefix: 'twill_agent_' });
    this.flows = new Counter({ name: 'twill_flows_total', help: 'Flow records, by verdict, traffic direction and event (new, end, drop)', labelNames: ['verdict', 'direction', 'event'], registers: [r] });
    this.unanswered = new Counter({ name: 'twill_flow_unanswered_attempts_total', help: 'Of the new flow records, those of TCP attempts with no reply yet (a SYN sent again on an unanswered conntrack entry); one answered later is counted as a new record again', registers: [r] });
    this.drops = new Counter({ name: 'twill_drops_total', help: 'Dropped packets recorded, by reason and by each policy that isolates the pod', labelNames: ['reason', 'policy'], registers: [r] });
    this.cni = new Histogram({
      name: 'twill_cni_operation_duration_seconds',
      help: 'CNI operations served by the agent, by command and result',
      labelNames: ['command', 'result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    });
    this.reconcileRuns = new Counter({ name: 'twill_reconcile_runs_total', help: 'Reconcile runs, by controller and result', labelNames: ['controller', 'result'], registers: [r] });
    this.reconcileSeconds = new Histogram({
      name: 'twill_reconcile_duration_seconds',
      help: 'Reconcile run durations, by controller',
      labelNames: ['controller'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [r],
    });
    this.applyErrors = new Counter({ name: 'twill_kernel_apply_errors_total', help: 'Reconcile runs the kernel refused (netlink or nftables), by controller', labelNames: ['controller'], registers: [r] });
    const packets = new Counter({ name: 'twill_policy_rule_packets_total', help: 'Packets counted by the policy table\'s rule counters, by policy, direction and action', labelNames: ['policy', 'direction', 'action'], registers: [r] });
    const bytes = new Counter({ name: 'twill_policy_rule_bytes_total', help: 'Bytes counted by the policy table\'s rule counters, by policy, direction and action', labelNames: ['policy', 'direction', 'action'], registers: [r] });
    const spoofed = new Counter({ name: 'twill_antispoof_dropped_packets_total', help: 'Packets dropped by anti-spoofing', registers: [r] });
    const readCounters = async (): Promise<void> => {
      // why: read-only scrape: counters read as empty for this scrape, the next one reads again
      const rep = await src.policyCounters?.().catch(() => undefined);
      packets.reset();
      bytes.reset();
      spoofed.reset();
      if (!rep) return;
      for (const p of rep.policies) {
        for (const [direction, action, c] of [['ingress', 'allow', p.ingressAllowed], ['egress', 'allow', p.egressAllowed], ['ingress', 'deny', p.ingressDropped], ['egress', 'deny', p.egressDropped]] as const) {
          packets.inc({ policy: p.policy, direction, action }, c.packets);
          bytes.inc({ policy: p.policy, direction, action }, c.bytes);
        }
      }
      spoofed.inc(rep.spoofed.packets);
    };
    // One read of the kernel's counters serves both counter families per scrape.
    let pending: Promise<void> | undefined;
    const once = (): Promise<void> => (pending ??= readCounters().finally(() => setTimeout(() => (pending = undefined), 0)));
    Object.assign(packets, { collect: once });
    Object.assign(bytes, { collect: once });
    Object.assign(spoofed, { collect: once });
    new Gauge({
      name: 'twill_ipam_addresses',
      help: 'Pod addresses of this node\'s blocks, by state',
      labelNames: ['state'],
      registers: [r],
      collect() {
        const s = src.ipam();
        this.set({ state: 'allocated' }, s.allocated);
        this.set({ state: 'free' }, Math.max(0, s.capacity - s.allocated));
      },
    });
    new Gauge({ name: 'twill_ipam_blocks', help: 'IPAM blocks this node holds', registers: [r], collect() { this.set(src.ipam().blocks.length); } });
    if (src.datastoreUp) {
      const up = src.datastoreUp;
      new Gauge({ name: 'twill_datastore_connected', help: '1 when the agent is connected to the datastore', registers: [r], collect() { this.set(up() ? 1 : 0); } });
    }
    if (src.watchResyncs) {
      const n = src.watchResyncs;
      new Counter({ name: 'twill_datastore_watch_restarts_total', help: 'Datastore watches that started over from a fresh list', registers: [r], collect() { this.reset(); this.inc(n()); } });
    }
    if (src.flowLost) {
      const lost = src.flowLost;
      new Counter({
        name: 'twill_flow_events_lost_total',
        help: 'Flow events lost, by where: nflog (kernel could not deliver), nflog_overflow / conntrack_overflow (receive buffer overflows, each one or more events), ring (overwritten records)',
        labelNames: ['source'],
        registers: [r],
        collect() {
          const l = lost();
          this.reset();
          this.inc({ source: 'nflog' }, l.nflog);
          this.inc({ source: 'nflog_overflow' }, l.nflogOverflows);
          this.inc({ source: 'conntrack_overflow' }, l.conntrackOverflows);
          this.inc({ source: 'ring' }, l.ringOverwritten);
        },
      });
    }
    if (src.flowUnansweredLimited) {
      const limited = src.flowUnansweredLimited;
      new Counter({
        name: 'twill_flow_unanswered_syns_limited_total',
        help: 'SYNs on unanswered conntrack entries not logged (so not recorded) because of the rate limit of the twill-flows table',
        registers: [r],
        async collect() {
          let n: number | undefined;
          try {
            n = await limited();
          } catch {
            // why: read-only scrape: no value this scrape, the next one reads again
          }
          this.reset();
          if (n !== undefined) this.inc(n);
        },
      });
    }
    if (src.flowStored) {
      const n = src.flowStored;
      new Gauge({ name: 'twill_flow_ring_records', help: 'Flow records held in the agent\'s ring', registers: [r], collect() { this.set(n()); } });
    }
  }

  flow(rec: RecordEvent): void {
    this.flows.inc({ verdict: rec.verdict, direction: rec.traffic_direction, event: rec.event });
    if (rec.unanswered) this.unanswered.inc();
    if (rec.verdict !== 'DROPPED') return;
    const side = rec.traffic_direction === 'INGRESS' ? 'ingress' : 'egress';
    const pols = rec.policies.filter((p) => p.direction === side && p.action === 'deny');
    if (pols.length === 0) this.drops.inc({ reason: rec.drop_reason ?? 'UNKNOWN', policy: '' });
    for (const p of pols) this.drops.inc({ reason: rec.drop_reason ?? 'UNKNOWN', policy: `${p.namespace}/${p.name}` });
  }

  cniOperation(command: string, result: string, seconds: number): void {
    this.cni.observe({ command, result }, seconds);
  }

  reconcile(controller: string, seconds: number, ok: boolean, errorCode?: string): void {
    this.reconcileRuns.inc({ controller, result: ok ? 'success' : 'error' });
    if (ok) this.reconcileSeconds.observe({ controller }, seconds);
    if (!ok && errorCode === 'KERNEL') this.applyErrors.inc({ controller });
  }

  /** Serves GET /metrics on `addr` (HOST:PORT; an empty host means every address). */
  async listen(addr: string): Promise<{ host: string; port: number }> {
    const i = addr.lastIndexOf(':');
    const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(addr.slice(i + 1));
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new TwillError('CONFIG_INVALID', `cannot serve metrics on ${addr}: ${e.message}`, { cause: e })));
      server.listen(port, host || undefined, () => resolve());
    });
    this.server = server;
    const a = server.address();
    return { host: typeof a === 'object' && a ? a.address : host, port: typeof a === 'object' && a ? a.port : port };
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
}
