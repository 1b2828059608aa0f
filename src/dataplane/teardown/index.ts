// Removing Twill from a node: every kernel object Twill owns, and nothing else. "Owns" means what
// names.ts names: host veths with the twl prefix, the twill0 VXLAN device, routes stamped with
// Twill's protocol number, and the twill-* nftables tables. Run only on uninstall: a restart or a
// rolling update must leave all of this in place so established pod flows keep going.
import {
  HOST_VETH_PREFIX, NFT_TABLE_FLOWS, NFT_TABLE_NAT, NFT_TABLE_POLICY, NFT_TABLE_SERVICES, ROUTE_PROTOCOL, VXLAN_DEVICE,
} from '../kernel/names.js';
import { ensureSysctl, netlink, nftListJson, readSysctl, run } from '../kernel/index.js';

const OWNED_TABLES = new Set([NFT_TABLE_POLICY, NFT_TABLE_NAT, NFT_TABLE_SERVICES, NFT_TABLE_FLOWS]);

export interface TeardownReport {
  links: string[];
  routes: string[];
  nftTables: string[];
}

/** Is this link Twill's? A host veth with Twill's prefix, or Twill's VXLAN device. */
export function ownsLink(l: { name: string; kind: string | undefined }): boolean {
  return (l.kind === 'veth' && l.name.startsWith(HOST_VETH_PREFIX)) || (l.kind === 'vxlan' && l.name === VXLAN_DEVICE);
}

/** Is this nftables table Twill's? */
export function ownsTable(name: string): boolean {
  return OWNED_TABLES.has(name);
}

async function listTables(): Promise<{ family: string; name: string }[]> {
  const doc = (await nftListJson(['tables'])) as { nftables?: { table?: { family: string; name: string } }[] } | undefined;
  return (doc?.nftables ?? []).flatMap((e) => (e.table ? [{ family: e.table.family, name: e.table.name }] : []));
}

/**
 * Deletes Twill's routes (main table, both families), links and nftables tables in the caller's
 * network namespace. Routes first: a pod loses its way out before its interface goes, never the
 * other way round. Idempotent: what is already gone is skipped.
 */
export async function teardownNode(): Promise<TeardownReport> {
  const nl = netlink();
  const rep: TeardownReport = { links: [], routes: [], nftTables: [] };
  for (const family of [4, 6] as const) {
    for (const r of await nl.listRoutes({ family, protocol: ROUTE_PROTOCOL, includeBlackhole: true })) {
      if (await nl.deleteRoute(r)) rep.routes.push(r.dst);
    }
  }
  for (const l of await nl.listLinks()) {
    if (ownsLink(l) && (await nl.deleteLink(l.name))) rep.links.push(l.name);
  }
  for (const t of await listTables()) {
    if (!ownsTable(t.name)) continue;
    // Flow records turned conntrack events off for connections their table does not tag
    // (src/flows/ct-events.ts): the kernel's default (2) comes back before the table goes.
    if (t.name === NFT_TABLE_FLOWS && (await readSysctl('net.netfilter.nf_conntrack_events')) === '0') await ensureSysctl('net.netfilter.nf_conntrack_events', '2');
    await run('nft', ['delete', 'table', t.family, t.name]);
    rep.nftTables.push(`${t.family} ${t.name}`);
  }
  return rep;
}
