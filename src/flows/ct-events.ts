// Conntrack events only for the connections flow records are made of. By default (sysctl
// net.netfilter.nf_conntrack_events = 2, "auto") every connection of the namespace gets an event
// cache as soon as anyone listens, and the kernel builds and sends a NEW and a DESTROY message for
// each: the node's own connections and, with the VXLAN backend, the outer UDP flow of every pod
// connection (as many events again as the pod connections themselves, all dropped by the agent).
//
// With the sysctl at 0 a connection gets an event cache only when a rule asks for one, and then
// only the events in its mask: the `twill-flows` table below sets `ct event set` on connections
// that enter or leave through a pod's veth (forwarded, pod → node, node → pod), before they are
// confirmed. Everything else generates no event at all. (nf_ct_ecache_ext_add and nft_ct's
// NFT_CT_EVENTMASK; ct-events.kernel.test.ts proves both halves on this kernel.)
//
// TCP connections are recorded at their first reply, not at their SYN. The kernel caches IPCT_NEW
// once per entry, when the entry is confirmed, and tcp_packet (nf_conntrack_proto_tcp) does not
// always make a new entry for a new connection: a SYN that finds an entry in SYN_SENT — the last
// connection on these ports was never answered (its SYN was dropped, the client gave up) and its
// entry lives on for nf_conntrack_tcp_timeout_syn_sent, 120 s — is taken as a retransmission with
// a new sequence number, and the new connection runs on the old entry: no NEW event. To the
// kernel (and to any rule) that SYN is indistinguishable from a retransmitted one, so the mask of
// a TCP entry is `reply,destroy`: IPCT_REPLY is cached when an entry sees its first packet in the
// reply direction (nf_conntrack_in sets IPS_SEEN_REPLY), which happens exactly once per answered
// connection, reused entry or not, and never for a retransmission. A connection that is never
// answered makes no start event; its entry's DESTROY still makes its end record (when it is killed
// or times out, 120 s after its first SYN). So that an operator sees a hanging attempt sooner, the
// table logs a pod connection's SYN that meets a confirmed entry in state new — one that has seen
// no reply; an entry's first SYN finds it unconfirmed — to the agent's NFLOG group ("twill U"):
// every retransmission (the first ~1 s after the SYN), and a new attempt on an unanswered entry's
// ports, which the kernel cannot tell apart. Rate-limited for the node (UNANSWERED_LIMIT); the
// agent makes one "no reply yet" record per 4-tuple and sequence number (recorder.ts), and the
// attempt's first reply, if it comes, still makes the ordinary record. A SYN that finds an entry
// that has seen a reply and that the kernel does not replace (tcp_packet replaces TIME_WAIT and
// CLOSE entries only after a FIN or the sender's own RST; after the peer's RST it lets the SYN
// through and re-synchronises on the SYN/ACK) makes no event either: the table logs such SYNs to
// the agent's NFLOG group ("twill R"), and the agent makes the record (recorder.ts; a
// retransmission, same sequence number, makes none). reused-entry.kernel.test.ts reproduces both
// reuse cases, unanswered.kernel.test.ts the hanging attempt. Other protocols keep
// `new,related,destroy`.
//
// The sysctl is per network namespace, and it is the node's: another conntrack listener there (an
// operator's `conntrack -E`) sees only pod connections while flow records are on. An agent
// started with --no-flow-records, and `twill uninstall`, put back the kernel's default.
import { HOST_VETH_PREFIX, NFT_TABLE_FLOWS, nftScriptPath } from '../dataplane/kernel/names.js';
import { applyNft, nftDeleteTable, nftListJson, nftTableExists } from '../dataplane/kernel/nft.js';
import { ensureSysctl, readSysctl } from '../dataplane/kernel/sysctl.js';
import { describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export const CT_EVENTS_SYSCTL = 'net.netfilter.nf_conntrack_events';
/** The kernel's default: an event cache for every connection while anyone listens. */
export const CT_EVENTS_DEFAULT = '2';
/** The events a record is made of: NEW (and RELATED: an expected connection's start), DESTROY (with the counts). */
const MASK = 'new,related,destroy';
/** A TCP connection's: its first reply (see above), DESTROY. */
const TCP_MASK = 'reply,destroy';
/**
 * After the policy table's chains (priority filter): a SYN the policy drops is neither tagged nor
 * logged as a new connection here (its drop is logged by the policy table).
 */
const PRIORITY = 'filter + 10';

/**
 * The rate at which SYNs on unanswered entries are logged, for the whole node: a node has few
 * hanging attempts at a time, and the first retransmission of each (Linux's initial RTO is 1 s)
 * is what makes its record; more than that is a flood (a black-holed Service, a port scan, a
 * loaded peer) whose records would say nothing new. The burst lets 200 attempts that start
 * together (a client pool reconnecting) through at once. A SYN over the limit is counted
 * (`unanswered_limited`), not logged: its attempt gets a record at a later retransmission if
 * the bucket has refilled by then (the recorder makes one per attempt, see recorder.ts).
 */
export const UNANSWERED_LIMIT = { perSecond: 100, burst: 200 };
/** The named counter of SYNs on unanswered entries that the limit kept from the log. */
export const UNANSWERED_LIMITED_COUNTER = 'unanswered_limited';

/**
 * The table, as an `nft -f` script that replaces any earlier copy in one transaction. With
 * `logGroup`, the table logs there a TCP SYN of a pod connection that meets an answered entry the
 * kernel keeps ("twill R <chain>"), and one that meets an entry not answered yet ("twill U
 * <chain>": a retransmission, or a new attempt on an unanswered attempt's ports; see above).
 */
export function ctEventsScript(logGroup?: number): string {
  const t = `inet ${NFT_TABLE_FLOWS}`;
  const pods = `"${HOST_VETH_PREFIX}*"`;
  const log = logGroup !== undefined;
  // Each hook's base chain costs an established packet two rules: the state lookup, and the TCP
  // flags of the reused-entry check. New and related ones go through their pod-veth match to `tag`;
  // before that, a TCP SYN whose entry is already confirmed (an earlier SYN confirmed it; state new
  // means it has seen no reply) goes to the unanswered-entry log. Not the entry's packet count: on
  // this kernel (6.18) a SYN retransmitted on a SYN_SENT entry leaves it at 1 (measured: four SYNs,
  // `packets=1`). An entry's first packet (every new connection's) meets one more rule.
  const hook = (name: 'forward' | 'input' | 'output', dirs: ('iifname' | 'oifname')[]): string[] => [
    `  chain ${name} {`,
    `    type filter hook ${name} priority ${PRIORITY}; policy accept;`,
    `    ct state vmap { new : jump ${name}_new, related : jump ${name}_new }`,
    ...(log ? [`    tcp flags syn / fin,syn,rst,ack ct direction original ct status seen-reply jump ${name}_reused`] : []),
    '  }',
    `  chain ${name}_new {`,
    ...(log ? [`    tcp flags syn / fin,syn,rst,ack ct status confirmed jump ${name}_unanswered`] : []),
    ...dirs.map((d) => `    ${d} ${pods} goto tag`),
    '  }',
    ...(log ? [`  chain ${name}_reused {`, ...dirs.map((d) => `    ${d} ${pods} log prefix "twill R ${name}" group ${logGroup}`), '  }'] : []),
    // The entry is confirmed (its event mask set by its first SYN): `tag` has nothing to do.
    ...(log
      ? [
          `  chain ${name}_unanswered {`,
          ...dirs.map((d) => `    ${d} ${pods} limit name "unanswered" log prefix "twill U ${name}" group ${logGroup} accept`),
          ...dirs.map((d) => `    ${d} ${pods} counter name "${UNANSWERED_LIMITED_COUNTER}" accept`),
          '  }',
        ]
      : []),
  ];
  return [
    `table ${t} {}`,
    `delete table ${t}`,
    `table ${t} {`,
    '  comment "conntrack events for pod connections only (flow records; net.netfilter.nf_conntrack_events is 0)"',
    ...(log ? [`  limit unanswered { rate ${UNANSWERED_LIMIT.perSecond}/second burst ${UNANSWERED_LIMIT.burst} packets }`, `  counter ${UNANSWERED_LIMITED_COUNTER} {}`] : []),
    '  chain tag {',
    `    ct state new meta l4proto tcp ct event set ${TCP_MASK}`,
    `    ct state new meta l4proto != tcp ct event set ${MASK}`,
    `    ct state related ct event set ${MASK}`,
    '  }',
    ...hook('forward', ['iifname', 'oifname']),
    ...hook('input', ['iifname']),
    ...hook('output', ['oifname']),
    '}',
    '',
  ].join('\n');
}

/**
 * Installs the table, then turns untagged connections' events off (in that order: no pod
 * connection goes without its events in between). Idempotent.
 */
export async function installCtEvents(runDir: string, logGroup?: number): Promise<void> {
  await applyNft(ctEventsScript(logGroup), { file: nftScriptPath(runDir, NFT_TABLE_FLOWS) });
  await ensureSysctl(CT_EVENTS_SYSCTL, '0');
}

/** SYNs on unanswered entries the rate limit kept from the log since the table was installed; undefined without the table. */
export async function readUnansweredLimited(): Promise<number | undefined> {
  const j = (await nftListJson(['counter', 'inet', NFT_TABLE_FLOWS, UNANSWERED_LIMITED_COUNTER])) as { nftables?: { counter?: { packets?: number } }[] } | undefined;
  return j?.nftables?.find((x) => x.counter)?.counter?.packets;
}

/**
 * Undoes installCtEvents when its table is there: the kernel's default first, then the table.
 * Returns whether there was anything to undo.
 */
export async function removeCtEvents(): Promise<boolean> {
  if (!(await nftTableExists('inet', NFT_TABLE_FLOWS))) return false;
  if ((await readSysctl(CT_EVENTS_SYSCTL)) === '0') await ensureSysctl(CT_EVENTS_SYSCTL, CT_EVENTS_DEFAULT);
  await nftDeleteTable('inet', NFT_TABLE_FLOWS);
  return true;
}

/** Records off: the node's conntrack events as the kernel makes them by default (an earlier run may have narrowed them). */
export async function undoCtEvents(log: Logger): Promise<void> {
  try {
    if (await removeCtEvents()) log.info('flow records off: conntrack events back to the kernel default', { removed: `table inet ${NFT_TABLE_FLOWS}`, sysctl: `${CT_EVENTS_SYSCTL}=${CT_EVENTS_DEFAULT}` });
  } catch (e) {
    log.warn('cannot undo the conntrack event settings of flow records', { error: describeError(e), fix: `nft delete table inet ${NFT_TABLE_FLOWS}; sysctl -w ${CT_EVENTS_SYSCTL}=${CT_EVENTS_DEFAULT}` });
  }
}
