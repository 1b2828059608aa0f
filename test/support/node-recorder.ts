// The agent's own FlowRecorder, run in the node namespace of podPeerNode (pod-peer.ts): the pod is
// a pod of node n1 (this node), the peer a pod of n2. The flow-record kernel tests ask it for the
// records made since their last question. The scope kills it with the test.
import { HOST_VETH_PREFIX } from '../../src/dataplane/kernel/names.js';
import type { PodPeer } from './pod-peer.js';
import type { TestScope } from './scope.js';

export interface ReportedRecord {
  event: string;
  sport?: number;
  dport?: number;
  rule: string | null;
  summary: string;
  /** When the record was made, ms since the epoch. */
  time: number;
}

export interface RecorderReport {
  records: ReportedRecord[];
  /** FlowRecorder.status(): stats and the kernel's count of rate-limited unanswered-entry SYNs. */
  stats: { recorded: { new: number; end: number; drop: number; reused: number; unanswered?: number }; unansweredLimited?: number };
}

export interface NodeRecorder {
  /** The records since the last report (waiting 400 ms first: events are polled); `last` stops the recorder. */
  report(last?: boolean): Promise<RecorderReport>;
}

/** Starts the recorder (NFLOG group `group`) in `nodes.node`; `net` is podPeerNode's, e.g. '10.97'. */
export async function startNodeRecorder(scope: TestScope, nodes: PodPeer, net: string, group: number): Promise<NodeRecorder> {
  if (!nodes.veth.startsWith(HOST_VETH_PREFIX)) throw new Error(`not a pod veth: ${nodes.veth}`);
  const runDir = await scope.tmpdir('fl-rec-');
  const mod = (p: string): string => JSON.stringify(new URL(p, import.meta.url).pathname);
  const script = `
    const { FlowRecorder } = await import(${mod('../../src/flows/recorder.ts')});
    const { removeCtEvents } = await import(${mod('../../src/flows/ct-events.ts')});
    const { indexSnapshot } = await import(${mod('../../src/policy/snapshot.ts')});
    const { rootLogger } = await import(${mod('../../src/util/log.ts')});
    const pod = (name, ip, node) => ({ namespace: 't', name, labels: { app: name }, ips: [ip], node, ports: [] });
    const index = indexSnapshot({ node: 'n1', namespaces: [{ name: 't', labels: {} }], pods: [pod('pod', '${net}.0.2', 'n1'), pod('peer', '${net}.1.2', 'n2')], policies: [], localEndpoints: [{ namespace: 't', name: 'pod', ip: '${net}.0.2', hostIface: ${JSON.stringify(nodes.veth)} }] });
    const r = new FlowRecorder({ node: 'n1', ringSize: 1000, group: ${group}, runDir: ${JSON.stringify(runDir)}, context: () => ({ node: 'n1', index }), log: rootLogger });
    await r.start();
    // Each line on stdin: report the records since the last report.
    const { createInterface } = await import('node:readline');
    let cursor = 0;
    process.stdout.write(JSON.stringify({ ready: true }) + '\\n');
    for await (const line of createInterface({ input: process.stdin })) {
      await new Promise((res) => setTimeout(res, 400));
      const q = await r.query({ after: cursor });
      cursor = q.cursor;
      const records = q.records.map((x) => ({ event: x.event, sport: x.l4.TCP?.source_port, dport: x.l4.TCP?.destination_port, rule: x.kernel_rule ?? null, summary: x.Summary, time: Date.parse(x.time) }));
      process.stdout.write(JSON.stringify({ records, stats: await r.status() }) + '\\n');
      if (line === 'done') break;
    }
    r.stop();
    await removeCtEvents();
    process.exit(0);
  `;
  const child = scope.spawn('nsenter', [`--net=${nodes.node}`, '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => out.includes('"ready"') && (clearInterval(t), resolve()), 50);
    child.once('exit', (code) => (clearInterval(t), reject(new Error(`the node-side recorder exited (${code}) before it was ready: ${out}`))));
  });
  const lines = (): number => out.split('\n').filter(Boolean).length;
  return {
    async report(last = false) {
      const before = lines();
      const exited = last ? new Promise((res) => child.once('exit', res)) : undefined;
      child.stdin!.write(last ? 'done\n' : 'next\n');
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => lines() > before && (clearInterval(t), resolve()), 50);
        child.once('exit', () => lines() > before || (clearInterval(t), reject(new Error(`the node-side recorder exited: ${out}`))));
      });
      await exited;
      return JSON.parse(out.trim().split('\n').pop()!) as RecorderReport;
    },
  };
}
