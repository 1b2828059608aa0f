// `twill observe`: flow records from every agent, with the habits of `hubble observe`.
import { Option, type Command } from 'commander';
import { DEFAULT_AGENT_SOCKET } from '../dataplane/kernel/names.js';
import { FilterError, formatCompact, formatJson, formatTable, parseEndSelector, type FlowFilter, type FlowRecord, type OutputFormat } from '../flows/index.js';
import { describeError } from '../util/errors.js';
import { FlowFollower, flowTargets, recentFlows } from './flows-client.js';

interface ObserveOptions {
  from: string[];
  to: string[];
  verdict: string[];
  port: number[];
  protocol: string[];
  policy: string[];
  node: string[];
  follow?: boolean;
  last?: number;
  since?: string;
  output: OutputFormat;
  lab?: string | boolean;
  socket?: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** "30s", "5m", "2h" ago, or an ISO time. */
export function parseSince(v: string, now = Date.now()): string {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (m) return new Date(now - Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h']).toISOString();
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new FilterError(`--since "${v}": expected a duration (30s, 5m, 2h) or a time (2026-12-02T06:00:00Z)`);
  return d.toISOString();
}

export function buildFilter(o: Pick<ObserveOptions, 'from' | 'to' | 'verdict' | 'port' | 'protocol' | 'policy' | 'node' | 'since'>): FlowFilter {
  const f: FlowFilter = {};
  if (o.from.length) f.from = o.from.map(parseEndSelector);
  if (o.to.length) f.to = o.to.map(parseEndSelector);
  if (o.verdict.length) {
    const v = o.verdict.map((x) => x.toUpperCase());
    for (const x of v) if (x !== 'FORWARDED' && x !== 'DROPPED') throw new FilterError(`--verdict "${x}": expected FORWARDED or DROPPED`);
    f.verdict = v as ('FORWARDED' | 'DROPPED')[];
  }
  if (o.port.length) f.port = o.port;
  if (o.protocol.length) {
    f.protocol = o.protocol.map((p) => p.toLowerCase());
    for (const p of f.protocol) if (!['tcp', 'udp', 'sctp', 'icmp'].includes(p)) throw new FilterError(`--protocol "${p}": expected tcp, udp, sctp or icmp`);
  }
  if (o.policy.length) f.policy = o.policy.map((p) => (p.includes('/') ? p : `default/${p}`));
  if (o.node.length) f.node = o.node;
  if (o.since) f.since = parseSince(o.since);
  return f;
}

export function registerObserve(program: Command): void {
  program
    .command('observe')
    .description('show flow records (new connections, their ends with counts, drops with the deciding policy) from every node')
    .option('--from <end>', 'source: NAMESPACE/POD, NAMESPACE/, KEY=VALUE[,…] labels, IP or CIDR (repeatable)', collect, [])
    .option('--to <end>', 'destination, as --from (repeatable)', collect, [])
    .option('--verdict <verdict>', 'FORWARDED | DROPPED (repeatable)', collect, [])
    .option('--port <port>', 'source or destination port (repeatable)', (v: string, prev: number[]) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port "${v}" is not a port number`);
      return [...prev, n];
    }, [] as number[])
    .option('--protocol <protocol>', 'tcp | udp | sctp | icmp (repeatable)', collect, [])
    .option('--policy <namespace/name>', 'flows a policy decided (repeatable)', collect, [])
    .option('--node <name>', 'flows recorded by this node (repeatable)', collect, [])
    .option('-f, --follow', 'keep printing new flows')
    .option('--last <n>', 'the last N flows (default: 20; with --since, all since then; with -f alone, none)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--last "${v}" is not a count`);
      return n;
    })
    .option('--since <time>', 'flows since a duration ago (30s, 5m) or a time')
    .addOption(new Option('-o, --output <format>', 'compact | table | json (one object per line)').choices(['compact', 'table', 'json']).default('compact'))
    .option('--lab [name]', 'every node of the lab')
    .option('--socket <path>', 'one agent\'s API socket', DEFAULT_AGENT_SOCKET)
    .action(async (o: ObserveOptions) => {
      let filter: FlowFilter;
      try {
        filter = buildFilter(o);
      } catch (e) {
        console.error(`twill observe: ${describeError(e)}`);
        process.exitCode = 2;
        return;
      }
      try {
        const targets = await flowTargets(o);
        const print = (rs: FlowRecord[], header: boolean): void => {
          if (!rs.length) return;
          if (o.output === 'json') console.log(rs.map(formatJson).join('\n'));
          else if (o.output === 'table') console.log(formatTable(rs, header));
          else console.log(rs.map(formatCompact).join('\n'));
        };
        // Without --last: the last 20 flows; with --since, every flow since then; with -f alone, none before now.
        const last = o.last ?? (o.since ? 100_000 : o.follow ? 0 : 20);
        const first = await recentFlows(targets, { last, filter });
        for (const n of first.notes) console.error(`twill observe: ${n}`);
        print(first.records, true);
        if (!o.follow) return;
        const f = new FlowFollower(targets, filter, (rs) => print(rs, false), (n) => console.error(`twill observe: ${n}`));
        f.start(first.cursors);
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            f.stop();
            resolve();
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      } catch (e) {
        console.error(`twill observe: ${describeError(e)}`);
        process.exitCode = 1;
      }
    });
}
