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
// The sysctl is per network namespace, and it is the node's: another conntrack listener there (an
// operator's `conntrack -E`) sees only pod connections while flow records are on. An agent
// started with --no-flow-records, and `twill uninstall`, put back the kernel's default.
import { HOST_VETH_PREFIX, NFT_TABLE_FLOWS, nftScriptPath } from '../dataplane/kernel/names.js';
import { applyNft, nftDeleteTable, nftTableExists } from '../dataplane/kernel/nft.js';
import { ensureSysctl, readSysctl } from '../dataplane/kernel/sysctl.js';
import { describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export const CT_EVENTS_SYSCTL = 'net.netfilter.nf_conntrack_events';
/** The kernel's default: an event cache for every connection while anyone listens. */
export const CT_EVENTS_DEFAULT = '2';
/** The events a record is made of: NEW (and RELATED: an expected connection's start), DESTROY (with the counts). */
const MASK = 'new,related,destroy';

/** The table, as an `nft -f` script that replaces any earlier copy in one transaction. */
export function ctEventsScript(): string {
  const t = `inet ${NFT_TABLE_FLOWS}`;
  const pods = `"${HOST_VETH_PREFIX}*"`;
  const tag = (dir: 'iifname' | 'oifname'): string => `    ct state new,related ${dir} ${pods} ct event set ${MASK}`;
  return [
    `table ${t} {}`,
    `delete table ${t}`,
    `table ${t} {`,
    '  comment "conntrack events for pod connections only (flow records; net.netfilter.nf_conntrack_events is 0)"',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    tag('iifname'),
    tag('oifname'),
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    tag('iifname'),
    '  }',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    tag('oifname'),
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Installs the table, then turns untagged connections' events off (in that order: no pod
 * connection goes without its events in between). Idempotent.
 */
export async function installCtEvents(runDir: string): Promise<void> {
  await applyNft(ctEventsScript(), { file: nftScriptPath(runDir, NFT_TABLE_FLOWS) });
  await ensureSysctl(CT_EVENTS_SYSCTL, '0');
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
