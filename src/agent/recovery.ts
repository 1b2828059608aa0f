// Start-up recovery: make the records agree with the kernel without ever cutting off a live pod.
// The kernel is the evidence of what lives: a pod's host veth (and its /32 route) exists exactly
// while its interface does. A record that is missing or unreadable is rebuilt from that evidence,
// never taken as proof that the pod is gone; only the kernel (the interface is gone), a DEL, or
// CNI GC's list of valid attachments removes a pod's network.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HOST_VETH_PREFIX, ROUTE_PROTOCOL, hostVethName, tombstoneDir } from '../dataplane/kernel/names.js';
import { netlink, type Link } from '../dataplane/kernel/netlink.js';
import { netnsExists } from '../dataplane/kernel/netns.js';
import { reconcileEndpointRoutes } from '../dataplane/endpoint/reconcile.js';
import { ownerKey, type LocalIpam, type Owner } from '../ipam/local/index.js';
import { describeError, errnoCode } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { quarantineFile } from '../util/quarantine.js';
import { AttachmentStore, type Attachment, type BadAttachment } from './attachments.js';
import type { CniService } from './cni-service.js';
import type { Problems } from './problems.js';
import type { AuditFinding } from './state-audit.js';

export interface StartupReport {
  tombstones: number;
  /** Tombstones whose DEL failed: kept on disk and retried. */
  tombstonesPending: number;
  staleAttachments: number;
  /** Attachments rebuilt from the kernel because their record was unreadable or missing. */
  recoveredAttachments: number;
  /** Address records rewritten from a trusted attachment record. */
  repairedAddresses: number;
  freedAddresses: number;
  strayLinks: number;
  routeChanges: number;
}

export interface RecoveryDeps {
  stateDir: string;
  socket: string;
  ipam: LocalIpam;
  attachments: AttachmentStore;
  cni: CniService;
  log: Logger;
  problems: Problems;
}

interface Tombstone {
  containerId: string;
  ifname: string;
  netns?: string;
}

function parseTombstone(text: string): Tombstone {
  const t = JSON.parse(text) as Partial<Tombstone> | null;
  if (!t || typeof t.containerId !== 'string' || !t.containerId || typeof t.ifname !== 'string' || !t.ifname) throw new Error('not a tombstone (containerId and ifname are required)');
  return t as Tombstone;
}

/**
 * Finishes the DELs the shim recorded while the agent was down. A tombstone is removed only once
 * its DEL completed; a failed one stays (and is retried by the caller); an unreadable one is
 * quarantined, loudly, because its DEL cannot be known.
 */
export async function processTombstones(d: RecoveryDeps): Promise<{ done: number; pending: number }> {
  const tdir = tombstoneDir(d.socket);
  let names: string[];
  try {
    names = await readdir(tdir);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return { done: 0, pending: 0 };
    throw e;
  }
  let done = 0;
  let pending = 0;
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const file = join(tdir, name);
    let t: Tombstone;
    try {
      t = parseTombstone(await readFile(file, 'utf8'));
    } catch (e) {
      const q = quarantineFile(file, d.stateDir, 'tombstone');
      d.problems.report(`tombstone:${name}`, 'error', 'a DEL tombstone is unreadable; quarantined (that DEL is unknown: CNI GC or the next DEL of the pod frees what it held)', { error: describeError(e), ...q });
      continue;
    }
    try {
      await d.cni.remove({ containerId: t.containerId, ifname: t.ifname }, t.netns);
    } catch (e) {
      pending++;
      d.problems.report(`tombstone:${name}`, 'error', 'cannot finish a DEL recorded while the agent was down; the tombstone is kept and retried', { file, attachment: `${t.containerId}/${t.ifname}`, error: describeError(e) });
      continue;
    }
    try {
      await rm(file, { force: true });
    } catch (e) {
      // The DEL is done and DEL is idempotent: a tombstone left behind only repeats it next time.
      d.log.warn('DEL finished but its tombstone could not be removed; it will be replayed harmlessly', { file, error: describeError(e) });
    }
    d.problems.clear(`tombstone:${name}`);
    done++;
  }
  return { done, pending };
}

/**
 * The state audit's look at the tombstones: one that cannot be parsed is quarantined and reported
 * now rather than at the next start. Parsable ones are left for start-up, whose DELs run before
 * any ADD (a DEL replayed now could remove a pod ADDed again under the same container id).
 */
export async function auditTombstones(d: Pick<RecoveryDeps, 'socket' | 'stateDir'>): Promise<AuditFinding[]> {
  const tdir = tombstoneDir(d.socket);
  let names: string[];
  try {
    names = await readdir(tdir);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return [];
    throw e;
  }
  const out: AuditFinding[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const file = join(tdir, name);
    try {
      parseTombstone(await readFile(file, 'utf8'));
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') continue; // why: finished (removed) by the start-up pass meanwhile
      const q = quarantineFile(file, d.stateDir, 'tombstone');
      out.push({ kind: 'tombstone', file, damage: describeError(e), repair: 'quarantined it (that DEL is unknown: CNI GC or the next DEL of the pod frees what it held)', quarantinedTo: q.movedTo ?? q.moveError });
    }
  }
  return out;
}

/** The /32 (or /128) pod addresses routed (proto 116) into each host veth. */
async function routedAddresses(links: Link[]): Promise<Map<string, string[]>> {
  const byIndex = new Map(links.map((l) => [l.index, l.name]));
  const out = new Map<string, string[]>();
  for (const r of await netlink().listRoutes({ protocol: ROUTE_PROTOCOL })) {
    const dev = r.oif !== undefined ? byIndex.get(r.oif) : undefined;
    if (!dev?.startsWith(HOST_VETH_PREFIX)) continue;
    const ip = r.dst.split('/')[0]!;
    out.set(dev, [...(out.get(dev) ?? []), ip]);
  }
  return out;
}

export async function recover(d: RecoveryDeps, bad: BadAttachment[]): Promise<StartupReport> {
  const rep: StartupReport = { tombstones: 0, tombstonesPending: 0, staleAttachments: 0, recoveredAttachments: 0, repairedAddresses: 0, freedAddresses: 0, strayLinks: 0, routeChanges: 0 };
  const t = await processTombstones(d);
  rep.tombstones = t.done;
  rep.tombstonesPending = t.pending;

  const nl = netlink();
  let links = await nl.listLinks();
  const linkByName = new Map(links.map((l) => [l.name, l]));
  const routed = await routedAddresses(links);

  // 1. Rebuild attachments whose record is unreadable (owner from the file name) or missing
  //    (an address record names an owner whose host veth exists), from the kernel's evidence.
  const rebuild = (owner: Owner, why: string): Attachment | undefined => {
    const hostIface = hostVethName(owner.containerId, owner.ifname);
    const link = linkByName.get(hostIface);
    if (!link) return undefined;
    const ip = d.ipam.lookup(owner);
    const ips = ip ? [ip] : (routed.get(hostIface) ?? []);
    if (ips.length === 0) return undefined;
    const a: Attachment = { ...owner, netns: '', network: '', ips, mtu: link.mtu, hostIface, createdAt: new Date().toISOString(), recovered: why };
    d.attachments.save(a);
    rep.recoveredAttachments++;
    return a;
  };
  for (const b of bad) {
    const a = b.owner && !d.attachments.get(b.owner) ? rebuild(b.owner, `record unreadable: ${b.reason}`) : undefined;
    d.problems.report(`attachment:${b.owner ? ownerKey(b.owner) : b.file}`, 'error',
      a ? 'attachment record unreadable; quarantined it and rebuilt it from the kernel (the pod keeps its interface and address)'
        : 'attachment record unreadable; quarantined it (no interface of that pod exists in the kernel, so nothing was removed by this)',
      { file: b.file, reason: b.reason, quarantinedTo: b.movedTo, moveError: b.moveError, attachment: a ? ownerKey(a) : undefined, ips: a?.ips.join(','), iface: a?.hostIface });
  }
  for (const rec of d.ipam.allRecords()) {
    if (!rec.containerId || d.attachments.get(rec)) continue;
    const a = rebuild(rec, 'no attachment record (the ADD was interrupted, or the record was lost)');
    if (a) d.problems.report(`attachment:${ownerKey(a)}`, 'warn', 'a pod interface exists in the kernel with an address record but no attachment record; rebuilt it (a DEL or CNI GC removes it if the pod is gone)', { attachment: ownerKey(a), ips: a.ips.join(','), iface: a.hostIface });
  }

  // 2. Address records that are unreadable or disagree with an attachment: the attachment record
  //    (written after the address record, atomically) is the truth; rewrite the address record.
  const held = new Map<string, Attachment>();
  for (const a of d.attachments.all()) for (const ip of a.ips) held.set(ip, a);
  for (const rec of d.ipam.allRecords()) {
    const a = held.get(rec.ip);
    if (!a || (rec.containerId && ownerKey(rec) === ownerKey(a))) continue;
    try {
      await d.ipam.adopt(a, rec.ip);
      rep.repairedAddresses++;
      d.problems.report(`address:${rec.ip}`, 'warn', 'address record unreadable or wrong; rewritten from the attachment record', { ip: rec.ip, attachment: ownerKey(a), was: rec.unreadable ?? (rec.containerId ? ownerKey(rec) : 'no owner') });
    } catch (e) {
      d.problems.report(`address:${rec.ip}`, 'error', 'two records claim one address; neither is changed (resolve by hand: `twill status`, then DEL the wrong pod)', { ip: rec.ip, attachment: ownerKey(a), error: describeError(e) });
    }
  }
  for (const a of d.attachments.all()) {
    for (const ip of a.ips) {
      if (d.ipam.allRecords().some((r) => r.ip === ip)) continue;
      await d.ipam.adopt(a, ip);
      rep.repairedAddresses++;
      d.problems.report(`address:${ip}`, 'warn', 'address record missing for a live attachment; written again', { ip, attachment: ownerKey(a) });
    }
  }

  // 3. Pods gone while the agent was down: the kernel says so (no netns, no host veth).
  for (const a of d.attachments.all()) {
    if ((a.netns !== '' && netnsExists(a.netns)) || linkByName.has(a.hostIface)) continue;
    d.log.info('pod gone while the agent was down; releasing', { attachment: ownerKey(a), ip: a.ips.join(',') });
    await d.cni.remove(a);
    rep.staleAttachments++;
  }

  // 4. Addresses nobody owns: freed, unless a live interface is routed to them (kept, loudly).
  const inUse = new Set<string>();
  for (const [dev, ips] of routed) if (linkByName.has(dev)) for (const ip of ips) inUse.add(ip);
  for (const a of d.attachments.all()) for (const ip of a.ips) inUse.add(ip);
  for (const rec of d.ipam.allRecords()) {
    if (rec.unreadable !== undefined && !held.has(rec.ip) && inUse.has(rec.ip)) {
      d.problems.report(`address:${rec.ip}`, 'error', 'address record unreadable and no attachment names the address, but a pod interface is routed to it; the address stays reserved', { ip: rec.ip, error: rec.unreadable });
    } else if (rec.unreadable !== undefined && !held.has(rec.ip)) {
      d.log.warn('address record unreadable and no interface uses the address; freeing it', { ip: rec.ip, error: rec.unreadable });
    }
  }
  const keep = new Set(d.attachments.all().map((a) => ownerKey(a)));
  rep.freedAddresses = (await d.ipam.gc(keep, inUse)).length;

  // 5. Host veths no record names and no address is routed to: an ADD undone by a crash.
  links = await nl.listLinks();
  const owned = new Set(d.attachments.all().map((a) => a.hostIface));
  for (const l of links) {
    if (!l.name.startsWith(HOST_VETH_PREFIX) || l.kind !== 'veth' || owned.has(l.name)) continue;
    if (routed.get(l.name)?.length) {
      d.problems.report(`link:${l.name}`, 'error', 'a pod interface with a routed address has no record at all; kept (CNI GC or a DEL of its pod removes it)', { iface: l.name, ips: routed.get(l.name)!.join(',') });
      continue;
    }
    await nl.deleteLink(l.name);
    rep.strayLinks++;
  }
  const routeOwners = [...d.attachments.all()];
  for (const [dev, ips] of routed) {
    if (!owned.has(dev) && linkByName.has(dev)) routeOwners.push({ containerId: dev, ifname: 'unknown', netns: '', network: '', ips, mtu: 0, hostIface: dev, createdAt: '' });
  }
  rep.routeChanges = await reconcileEndpointRoutes(routeOwners);
  return rep;
}

/** Attachments in the form `twill status` lists them, with the rebuilt ones marked. */
export function attachmentView(a: Attachment): Record<string, unknown> {
  return { id: AttachmentStore.key(a), ips: a.ips, iface: a.hostIface, pod: a.pod ? `${a.pod.namespace}/${a.pod.name}` : undefined, ...(a.recovered ? { recovered: a.recovered } : {}) };
}
