// Flows from every agent of a cluster (a lab's nodes, or one agent's socket), merged in time
// order. `twill observe` and `twill ui` read through this.
import { nodeDir, resolveLab } from '../lab/state.js';
import { agentSocket } from '../lab/node-agent.js';
import { hostPath } from '../lab/kubernetes/node-host.js';
import { DEFAULT_AGENT_SOCKET } from '../dataplane/kernel/names.js';
import { describeError } from '../util/errors.js';
import type { FlowFilter, FlowRecord, LostCounts } from '../flows/index.js';
import { agentRequest } from './client.js';

export interface AgentTarget {
  node: string;
  socket: string;
}

/** The agents to ask: every node of a lab (`--lab [NAME]`), else one socket. */
export async function flowTargets(o: { lab?: string | boolean; socket?: string }): Promise<AgentTarget[]> {
  if (o.lab === undefined || o.lab === false) return [{ node: 'local', socket: o.socket ?? DEFAULT_AGENT_SOCKET }];
  const st = await resolveLab(typeof o.lab === 'string' ? o.lab : undefined);
  // A Kubernetes lab's agents (DaemonSet pods, or standalone) listen on the node's
  // /run/twill/agent.sock, a folder of the node's own mount namespace backed on the host.
  return st.nodes.map((n) => ({ node: n.name, socket: st.kubernetes ? hostPath({ dir: nodeDir(st.name, n.name) }, DEFAULT_AGENT_SOCKET) : agentSocket(nodeDir(st.name, n.name)) }));
}

export interface FlowReply {
  node: string;
  records: FlowRecord[];
  missed: number;
  cursor: number;
  lost: LostCounts;
}

const lostTotal = (l: LostCounts): number => l.nflog + l.nflogOverflows + l.conntrackOverflows;

export function flowsPath(q: { after?: number; last?: number; wait?: number; filter?: FlowFilter }): string {
  const p = new URLSearchParams();
  if (q.after !== undefined) p.set('after', String(q.after));
  if (q.last !== undefined) p.set('last', String(q.last));
  if (q.wait !== undefined) p.set('wait', String(q.wait));
  if (q.filter && Object.keys(q.filter).length) p.set('filter', JSON.stringify(q.filter));
  return `/v1/flows?${p.toString()}`;
}

const byTime = (a: FlowRecord, b: FlowRecord): number => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.node_name < b.node_name ? -1 : a.id - b.id);

/** The last `last` records of every agent, merged and cut to the last `last` overall; notes name what is missing. */
export async function recentFlows(targets: AgentTarget[], q: { last: number; filter?: FlowFilter }): Promise<{ records: FlowRecord[]; cursors: Map<string, number>; notes: string[] }> {
  const notes: string[] = [];
  const cursors = new Map<string, number>();
  const all: FlowRecord[] = [];
  await Promise.all(
    targets.map(async (t) => {
      try {
        const r = await agentRequest<FlowReply>(t.socket, 'GET', flowsPath({ last: q.last, ...(q.filter ? { filter: q.filter } : {}) }), undefined, 10_000);
        cursors.set(t.socket, r.cursor);
        all.push(...r.records);
        if (lostTotal(r.lost) > 0) notes.push(`node ${r.node}: ${describeLost(r.lost)}`);
      } catch (e) {
        notes.push(`node ${t.node}: ${describeError(e)}`);
      }
    }),
  );
  all.sort(byTime);
  return { records: all.slice(-q.last), cursors, notes };
}

export function describeLost(l: LostCounts): string {
  return `kernel lost ${l.nflog} NFLOG packet(s); receive buffer overflowed ${l.nflogOverflows} (NFLOG) and ${l.conntrackOverflows} (conntrack) time(s); ${l.ringOverwritten} record(s) overwritten in the ring`;
}

/**
 * Follows every agent with long polls from its cursor, and hands over records in time order:
 * a record is held for `holdMs` so one from a slower node can still be sorted before it.
 */
export class FlowFollower {
  private stopped = false;
  private buffer: FlowRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly lost = new Map<string, number>();

  constructor(
    private readonly targets: AgentTarget[],
    private readonly filter: FlowFilter | undefined,
    private readonly onRecords: (rs: FlowRecord[]) => void,
    private readonly onNote: (s: string) => void,
    private readonly holdMs = 100,
  ) {}

  start(cursors: Map<string, number> = new Map()): void {
    for (const t of this.targets) void this.loop(t, cursors.get(t.socket));
    this.timer = setInterval(() => this.flush(), this.holdMs / 2);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.flush(true);
  }

  private flush(all = false): void {
    if (!this.buffer.length) return;
    const cut = new Date(Date.now() - this.holdMs).toISOString();
    this.buffer.sort(byTime);
    const i = all ? this.buffer.length : this.buffer.findIndex((r) => r.time > cut);
    const n = i < 0 ? this.buffer.length : i;
    if (n === 0) return;
    this.onRecords(this.buffer.splice(0, n));
  }

  private async loop(t: AgentTarget, cursor: number | undefined): Promise<void> {
    let after = cursor;
    let delay = 250;
    while (!this.stopped) {
      try {
        if (after === undefined) after = (await agentRequest<FlowReply>(t.socket, 'GET', flowsPath({ last: 0 }), undefined, 5000)).cursor;
        const r = await agentRequest<FlowReply>(t.socket, 'GET', flowsPath({ after, wait: 2000, ...(this.filter ? { filter: this.filter } : {}) }), undefined, 10_000);
        after = r.cursor;
        delay = 250;
        if (r.missed > 0) this.onNote(`node ${r.node}: ${r.missed} record(s) were overwritten in the ring before they could be read`);
        const lt = lostTotal(r.lost);
        if (lt > (this.lost.get(t.socket) ?? 0)) this.onNote(`node ${r.node}: ${describeLost(r.lost)}`);
        this.lost.set(t.socket, lt);
        if (r.records.length) this.buffer.push(...r.records);
      } catch (e) {
        if (this.stopped) return;
        this.onNote(`node ${t.node}: ${describeError(e)}; retrying`);
        await new Promise((res) => setTimeout(res, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }
}
