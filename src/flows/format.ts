// Flow records as text: compact (one readable line, hubble observe's default), table, json (one
// object per line). Pure.
import { protocolOf } from './filter.js';
import type { FlowEndpoint, FlowRecord } from './record.js';

export type OutputFormat = 'compact' | 'table' | 'json';

/**
 * A `new` record made from a SYN sent again on an entry that has seen no reply (NFLOG "twill U …":
 * a retransmission, or a new attempt on an unanswered attempt's ports): the attempt is not
 * answered yet. If it is answered later, its first reply makes an ordinary `new` record too.
 * (Here, not in record.ts, so that the web UI's bundle does not take in the evaluator.)
 */
export const isUnanswered = (r: { kernel_rule?: string }): boolean => r.kernel_rule?.startsWith('twill U ') === true;

/** The verdict column of the table and the UI. */
export function verdictCell(r: FlowRecord): string {
  if (r.verdict === 'DROPPED') return `DROPPED ${r.drop_reason}`;
  return isUnanswered(r) ? 'FORWARDED (no reply yet)' : 'FORWARDED';
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Dec  2 06:01:02.123" in UTC. */
export function shortTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2)} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}`;
}

export function endName(e: FlowEndpoint): string {
  return e.kind === 'pod' ? `${e.namespace}/${e.pod_name}` : e.ip;
}

function endWithPort(e: FlowEndpoint, port: number | undefined): string {
  return `${endName(e)}${port !== undefined ? `:${port}` : ''}`;
}

/** The deciding policies of a record, in `policy explain`'s words: the dropping side for a drop, both sides otherwise. */
export function decisionOf(r: FlowRecord): string {
  if (r.drop_reason === 'INVALID_SOURCE_IP') return 'anti-spoofing: the source is not the pod\'s address';
  const side = r.traffic_direction === 'INGRESS' ? 'ingress' : 'egress';
  if (r.verdict === 'DROPPED') return `${side}: ${r.policy_decision[side]}`;
  const sides = (['egress', 'ingress'] as const).filter((d) => !r.policy_decision[d].startsWith('not a pod'));
  return sides.map((d) => `${d}: ${r.policy_decision[d]}`).join('; ');
}

function ports(r: FlowRecord): [number | undefined, number | undefined] {
  const p = r.l4.TCP ?? r.l4.UDP ?? r.l4.SCTP;
  return p ? [p.source_port, p.destination_port] : [undefined, undefined];
}

/** FORWARDED, with what kind of forwarded record it is when not a plain new one. */
function forwarded(r: FlowRecord): string {
  if (r.event === 'end') return 'FORWARDED (end)';
  return isUnanswered(r) ? 'FORWARDED (no reply yet)' : 'FORWARDED';
}

export function formatCompact(r: FlowRecord): string {
  const [sp, dp] = ports(r);
  const verdict = r.verdict === 'DROPPED' ? `DROPPED (${r.drop_reason})` : forwarded(r);
  const counts = r.counters ? ` ${r.counters.packets}/${r.counters.reply_packets} pkts ${r.counters.bytes}/${r.counters.reply_bytes} B` : '';
  return `${shortTime(r.time)} [${r.node_name}]: ${endWithPort(r.source, sp)} -> ${endWithPort(r.destination, dp)} ${protocolOf(r).toUpperCase()} ${r.traffic_direction} ${verdict}${counts} ${decisionOf(r)}`;
}

const COLUMNS = ['TIMESTAMP', 'NODE', 'SOURCE', 'DESTINATION', 'TYPE', 'VERDICT', 'POLICY'] as const;

export function formatTable(rs: FlowRecord[], header = true): string {
  const rows = rs.map((r) => {
    const [sp, dp] = ports(r);
    return [shortTime(r.time), r.node_name, endWithPort(r.source, sp), endWithPort(r.destination, dp), `${protocolOf(r)} ${r.traffic_direction.toLowerCase()} ${r.event}`, verdictCell(r), decisionOf(r)];
  });
  const all = header ? [[...COLUMNS], ...rows] : rows;
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function formatJson(r: FlowRecord): string {
  return JSON.stringify(r);
}
