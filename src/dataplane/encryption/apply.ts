// applyEncryption: converge the node to compile's output, in an order that never opens a window
// for plaintext: the strict-mode table first, then the device (started or re-attached), its
// configuration (only the difference; a new device is configured while still down), the link up,
// the routes of WireGuard's table, and last the rule that sends pod traffic to that table.
// removeEncryption undoes all of it (encryption switched off).
import { readFile } from 'node:fs/promises';
import { NFT_TABLE_ENCRYPTION, ROUTE_PROTOCOL, WIREGUARD_DEVICE, WIREGUARD_FWMARK, WIREGUARD_ROUTE_TABLE, WIREGUARD_RULE_PRIORITY, nftScriptPath } from '../kernel/names.js';
import { netlink, type Netlink } from '../kernel/netlink.js';
import { applyNft, nftDeleteTable, nftTableExists } from '../kernel/nft.js';
import { ensureRule, ensureUserspace, KernelWgDevice, removeRule, stopUserspace, type WgDeviceHandle, type WgSelection } from '../kernel/wireguard/index.js';
import { describeWgChange, planWgDevice } from './plan.js';
import type { DesiredEncryption } from './types.js';

export interface EncryptionApplyResult {
  changes: number;
  actions: string[];
  /** The wireguard-go pid (userspace), to watch. */
  pid?: number | undefined;
  device: WgDeviceHandle;
}

async function applyStrict(desired: DesiredEncryption, runDir: string, actions: string[]): Promise<void> {
  const file = nftScriptPath(runDir, NFT_TABLE_ENCRYPTION);
  if (desired.strictTable === undefined) {
    if (await nftTableExists('inet', NFT_TABLE_ENCRYPTION)) {
      await nftDeleteTable('inet', NFT_TABLE_ENCRYPTION);
      actions.push(`delete table inet ${NFT_TABLE_ENCRYPTION} (strict mode off)`);
    }
    return;
  }
  // why: read-only: without the last applied text the table is simply replaced
  const last = await readFile(file, 'utf8').catch(() => undefined);
  if (last === desired.strictTable && (await nftTableExists('inet', NFT_TABLE_ENCRYPTION))) return;
  await applyNft(desired.strictTable, { file });
  actions.push(`replace table inet ${NFT_TABLE_ENCRYPTION} (strict mode)`);
}

async function applyRoutes(nl: Netlink, desired: DesiredEncryption, actions: string[]): Promise<void> {
  const want = new Map(desired.routes.map((r) => [r.dst, r]));
  const have = new Set<string>();
  for (const family of [4, 6] as const) {
    for (const r of await nl.listRoutes({ family, table: WIREGUARD_ROUTE_TABLE })) {
      const dev = r.oif === undefined ? undefined : (await nl.listLinks()).find((l) => l.index === r.oif)?.name;
      if (want.has(r.dst) && dev === WIREGUARD_DEVICE && r.protocol === ROUTE_PROTOCOL) {
        have.add(r.dst);
        continue;
      }
      if (r.protocol !== ROUTE_PROTOCOL) continue; // not ours
      await nl.deleteRoute({ dst: r.dst, table: WIREGUARD_ROUTE_TABLE, protocol: ROUTE_PROTOCOL, ...(r.oif !== undefined ? { oif: r.oif } : {}), scope: r.scope });
      actions.push(`delete route ${r.dst} table ${WIREGUARD_ROUTE_TABLE}`);
    }
  }
  for (const r of desired.routes) {
    if (have.has(r.dst)) continue;
    await nl.replaceRoute({ dst: r.dst, dev: r.dev, table: r.table, protocol: r.protocol, scope: 'link' });
    actions.push(`add route ${r.dst} dev ${r.dev} table ${r.table}`);
  }
}

export async function applyEncryption(
  desired: DesiredEncryption,
  privateKey: string,
  sel: WgSelection,
  opts: { runDir: string; nl?: Netlink },
): Promise<EncryptionApplyResult> {
  const nl = opts.nl ?? netlink();
  const actions: string[] = [];
  await applyStrict(desired, opts.runDir, actions);
  let device: WgDeviceHandle;
  let pid: number | undefined;
  if (sel.implementation === 'userspace') {
    const u = await ensureUserspace({ runDir: opts.runDir, ifname: desired.device.name, binary: sel.binary });
    if (u.started) actions.push(`start wireguard-go for ${desired.device.name} (pid ${u.pid})`);
    device = u.device;
    pid = u.pid;
  } else {
    await KernelWgDevice.ensureLink(desired.device.name, desired.device.mtu);
    device = sel.device;
  }
  const link = await nl.mustGetLink(desired.device.name);
  if (link.mtu !== desired.device.mtu) {
    await nl.setLink(desired.device.name, { mtu: desired.device.mtu });
    actions.push(`set ${desired.device.name} mtu ${desired.device.mtu}`);
  }
  // Peers before the link goes up. wireguard-go marks its device up before it opens its UDP
  // socket; a peer configured in between sends its first handshake into a closed socket, and the
  // retry waits REKEY_TIMEOUT (5 s) — a 5 s hole in pod traffic at switch-on. Configured while
  // the device is down, every peer sends its first handshake when the device comes up, socket
  // open (the kernel's WireGuard does the same on open).
  const change = planWgDevice(await device.get(), desired, privateKey);
  if (change) {
    await device.set(change);
    actions.push(...describeWgChange(change));
  }
  if (!link.up) {
    await nl.setLink(desired.device.name, { up: true });
    actions.push(`set ${desired.device.name} up`);
  }
  await applyRoutes(nl, desired, actions);
  if ((await ensureRule(desired.rule)) > 0) actions.push(`add rule pref ${desired.rule.priority} not fwmark 0x${desired.rule.notFwmark.toString(16)} lookup ${desired.rule.table}`);
  return { changes: actions.length, actions, pid, device };
}

/** Encryption switched off: rule, routes, device and strict table go (strict last: no clear window while routes still point at the tunnel). */
export async function removeEncryption(opts: { runDir: string; nl?: Netlink }): Promise<string[]> {
  const nl = opts.nl ?? netlink();
  const actions: string[] = [];
  if ((await removeRule({ priority: WIREGUARD_RULE_PRIORITY, table: WIREGUARD_ROUTE_TABLE, notFwmark: WIREGUARD_FWMARK })) > 0) actions.push('remove rule');
  for (const family of [4, 6] as const) {
    for (const r of await nl.listRoutes({ family, table: WIREGUARD_ROUTE_TABLE, protocol: ROUTE_PROTOCOL })) {
      await nl.deleteRoute({ dst: r.dst, table: WIREGUARD_ROUTE_TABLE, protocol: ROUTE_PROTOCOL, ...(r.oif !== undefined ? { oif: r.oif } : {}), scope: r.scope });
      actions.push(`delete route ${r.dst} table ${WIREGUARD_ROUTE_TABLE}`);
    }
  }
  if (await stopUserspace(opts.runDir, WIREGUARD_DEVICE)) actions.push('stop wireguard-go');
  if (await nl.deleteLink(WIREGUARD_DEVICE)) actions.push(`delete ${WIREGUARD_DEVICE}`);
  if (await nftTableExists('inet', NFT_TABLE_ENCRYPTION)) {
    await nftDeleteTable('inet', NFT_TABLE_ENCRYPTION);
    actions.push(`delete table inet ${NFT_TABLE_ENCRYPTION}`);
  }
  return actions;
}
