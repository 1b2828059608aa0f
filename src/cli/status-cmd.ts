// `twill status`: what the local agent is doing — mode, addresses, peers, routes, policies.
import type { Command } from 'commander';
import { DEFAULT_AGENT_SOCKET } from '../dataplane/kernel/names.js';
import { describeError } from '../util/errors.js';
import { agentRequest } from './client.js';
import { describeLost } from './flows-client.js';
import type { FlowStats } from '../flows/index.js';

interface ReconcileStatus {
  runs: number;
  lastRunAt?: string;
  lastChanges?: number;
  lastError?: string;
  totalChanges: number;
  failures?: number;
  lastFailure?: { at: string; error: string };
}

interface Status {
  node: string;
  version: string;
  mode: string;
  uptimeSeconds: number;
  /** How the agent configures pod namespaces: 'setns' (in-process) or 'ip-exec' (fallback). */
  podNetns?: string;
  mtu: number;
  ipam: { blocks: string[]; allocated: number; capacity: number };
  attachments: { id: string; ips: string[]; iface: string; pod?: string; recovered?: string }[];
  problems?: { id: string; level: string; message: string; since: string; count: number; details?: Record<string, unknown> }[];
  cluster?: {
    /** security: how the etcd connection is protected (paths and user name only). */
    datastore: { name: string; connected: boolean; security?: string };
    config: { backend: string; pool: string; vxlan: { vni: number; port: number; directRouting: boolean }; natOutgoing: boolean };
    underlay: { iface: string; ip: string; cidr: string; mtu: number };
    peers: { name: string; underlayIP: string; backend: string; blocks: string[] }[];
    lostBlocks?: string[];
    blockCacheError?: string;
  };
  routing?: ReconcileStatus & { backend: string; routes?: number; peerErrors?: { peer: string; reason: string }[] };
  policy?: ReconcileStatus & { ready: boolean; policies: number; rejected: number; updates?: string };
  flows?: FlowStats;
  encryption?: {
    implementation?: string;
    why?: string;
    interface: string;
    pid?: number;
    publicKey?: string;
    port: number;
    strict: boolean;
    nodeTraffic: boolean;
    reconcile: ReconcileStatus;
    peerErrors?: { peer: string; reason: string }[];
    heldPeers?: { node: string; goneForSeconds: number }[];
    device?: { error?: string; peers?: { node?: string; endpoint?: string; allowedIPs: string[]; lastHandshake?: string; rxBytes: number; txBytes: number }[] };
  };
}

interface PolicyStatus {
  policies: { namespace: string; name: string; accepted: boolean; reason?: string; counters?: { allowedPackets: number; droppedPackets: number } }[];
}

/** What the new records include besides answered connections ("" when nothing; an older agent counts no unanswered ones). */
function newDetail(r: FlowStats['recorded']): string {
  const parts = [...(r.reused ? [`${r.reused} on reused conntrack entries`] : []), ...(r.unanswered ? [`${r.unanswered} attempts with no reply yet`] : [])];
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function reconcileLine(r: ReconcileStatus): string {
  if (r.lastError) return `FAILING: ${r.lastError}`;
  const failed = r.failures ? `; ${r.failures} failed, the last at ${r.lastFailure?.at ?? '?'}: ${r.lastFailure?.error ?? '?'}` : '';
  return `${r.runs} runs, last ${r.lastRunAt ?? 'never'} (${r.lastChanges ?? 0} changes; ${r.totalChanges} since start${failed})`;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show what the local agent is doing')
    .option('--socket <path>', 'agent API socket', DEFAULT_AGENT_SOCKET)
    .option('-o, --output <format>', 'text | json', 'text')
    .action(async (opts: { socket: string; output: string }) => {
      try {
        const s = await agentRequest<Status>(opts.socket, 'GET', '/v1/status');
        const p = s.policy ? await agentRequest<PolicyStatus>(opts.socket, 'GET', '/v1/policy/status') : undefined;
        if (opts.output === 'json') {
          console.log(JSON.stringify({ ...s, policyStatus: p?.policies }, null, 2));
          return;
        }
        console.log(`node ${s.node}  agent ${s.version}  mode ${s.mode}  up ${s.uptimeSeconds}s  pod MTU ${s.mtu}  pod netns via ${s.podNetns ?? '?'}`);
        const problems = s.problems ?? [];
        if (problems.length) {
          console.log(`PROBLEMS (${problems.length}):`);
          for (const x of problems) {
            const det = Object.entries(x.details ?? {}).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
            console.log(`  ${x.level.toUpperCase()} ${x.message}${x.count > 1 ? ` (${x.count} times since ${x.since})` : ` (since ${x.since})`}${det ? `\n    ${det}` : ''}`);
          }
        }
        console.log(`IPAM: ${s.ipam.allocated}/${s.ipam.capacity} addresses in ${s.ipam.blocks.join(', ') || '(no blocks)'}`);
        if (s.cluster) {
          const c = s.cluster;
          console.log(`datastore: ${c.datastore.name} ${c.datastore.connected ? 'connected' : 'NOT CONNECTED (datapath kept as it is)'}${c.datastore.security ? `; ${c.datastore.security}` : ''}`);
          console.log(`cluster: backend ${c.config.backend}${c.config.vxlan.directRouting ? ' +directRouting' : ''}, pool ${c.config.pool}, NAT ${c.config.natOutgoing ? 'on' : 'off'}; underlay ${c.underlay.ip} on ${c.underlay.iface} (MTU ${c.underlay.mtu})`);
          console.log(`peers (${c.peers.length}): ${c.peers.map((x) => `${x.name} ${x.underlayIP} [${x.blocks.join(',')}]`).join('; ') || 'none'}`);
          if (c.blockCacheError) console.log(`ERROR: ${c.blockCacheError}`);
          if (c.lostBlocks?.length) console.log(`WARNING: blocks taken over by other nodes: ${c.lostBlocks.join(', ')}`);
        }
        if (s.routing) {
          console.log(`routing: ${reconcileLine(s.routing)}; ${s.routing.routes ?? 0} routes`);
          for (const e of s.routing.peerErrors ?? []) console.log(`  cannot reach ${e.peer}: ${e.reason}`);
        }
        if (s.policy) {
          console.log(`policy: ${s.policy.ready ? reconcileLine(s.policy) : 'waiting for the datastore'}; ${s.policy.policies} policies, ${s.policy.rejected} rejected; updates via ${s.policy.updates ?? '?'}`);
          for (const x of p?.policies ?? []) {
            const c = x.counters ? `allowed ${x.counters.allowedPackets} pkts, dropped ${x.counters.droppedPackets} pkts` : 'no counters yet';
            console.log(`  ${x.namespace}/${x.name}: ${x.accepted ? 'accepted' : `REJECTED (${x.reason ?? ''})`}; ${c}`);
          }
        }
        if (s.flows) {
          const f = s.flows;
          console.log(`flows: ${f.stored}/${f.ringSize} records kept; recorded ${f.recorded.new} new${newDetail(f.recorded)}, ${f.recorded.end} ended, ${f.recorded.drop} drops; lost: ${describeLost(f.lost)}`);
        }
        if (s.encryption) {
          const e = s.encryption;
          const impl = e.implementation === 'userspace' ? `userspace (wireguard-go pid ${e.pid ?? '?'})` : e.implementation === 'kernel' ? 'kernel module' : 'NOT RUNNING';
          console.log(`encryption: wireguard, ${impl}, ${e.interface} port ${e.port}, strict ${e.strict ? 'on' : 'OFF'}${e.nodeTraffic ? ', node traffic too' : ''}; ${reconcileLine(e.reconcile)}`);
          if (e.why) console.log(`  implementation: ${e.why}`);
          console.log(`  public key ${e.publicKey ?? '(none yet)'}`);
          if (e.device?.error) console.log(`  device: ${e.device.error}`);
          for (const x of e.device?.peers ?? []) {
            const held = e.heldPeers?.find((h) => h.node === x.node);
            console.log(`  peer ${x.node ?? '?'} ${x.endpoint ?? '-'} [${x.allowedIPs.join(',')}] handshake ${x.lastHandshake ?? 'never'}, rx ${x.rxBytes} B, tx ${x.txBytes} B${held ? `  (held: its TwillNode gone for ${held.goneForSeconds} s, its blocks still its own)` : ''}`);
          }
          for (const x of e.peerErrors ?? []) console.log(`  ${x.peer}: ${x.reason}`);
        }
        console.log(`attachments: ${s.attachments.length}`);
        for (const a of s.attachments) console.log(`  ${a.pod ?? a.id}  ${a.ips.join(',')}  ${a.iface}${a.recovered ? `  (rebuilt from the kernel: ${a.recovered})` : ''}`);
      } catch (e) {
        console.error(`twill status: ${describeError(e)}`);
        process.exit(1);
      }
    });
}
