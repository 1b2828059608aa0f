// holdPeers: which peers stay on the WireGuard device although their TwillNode is gone. Pure.
//
// A TwillNode lives under its agent's lease, so it vanishes when the *agent* has been down for
// the lease TTL — an agent restart under load, an upgrade — while that node's pods and its
// wireguard-go keep running. Dropping the peer then would cut live pod traffic (strict mode
// drops it) and cost a new handshake when the record comes back a moment later, unchanged. So a
// peer this node had applied is held, with the key, endpoint and blocks it last published, for
// as long as those blocks cannot belong to anyone else:
//   - blocks from the datastore (IPAMBlock): while the gone node still claims them, i.e. until
//     the dead-node reclaim (blockGraceSeconds) returns them to the pool;
//   - blocks that cannot be checked (fixed podCIDRs, or the block list not read yet): for
//     graceMs after this agent first saw the record missing.
// A block that a live node (or this one) holds is never held for a gone one.
import { cidrOverlaps, tryParseCidr } from '../../util/ip.js';
import type { EncryptionPeer } from './types.js';

export interface HoldInput {
  /** Peers with a TwillNode now. */
  live: EncryptionPeer[];
  /** The peers last applied to the device (in memory, or from the state file after a restart). */
  known: EncryptionPeer[];
  self: { name: string; blocks: string[] };
  nowMs: number;
  graceMs: number;
  /** When each known peer was first seen without a record; updated in place. */
  goneSince: Map<string, number>;
  /** The blocks the datastore says `node` still claims; undefined when that cannot be told. */
  claimedBy: (node: string) => string[] | undefined;
}

export interface HoldResult {
  held: (EncryptionPeer & { goneForMs: number })[];
  /** Known peers no longer held, and why (for the log). */
  released: { name: string; why: string }[];
}

export function holdPeers(i: HoldInput): HoldResult {
  const liveNames = new Set(i.live.map((p) => p.name));
  const taken = [...i.self.blocks, ...i.live.flatMap((p) => p.blocks)].map((c) => tryParseCidr(c)).filter((c) => c !== undefined);
  const held: HoldResult['held'] = [];
  const released: HoldResult['released'] = [];
  const knownNames = new Set<string>();
  for (const k of i.known) {
    knownNames.add(k.name);
    if (liveNames.has(k.name) || k.name === i.self.name) {
      i.goneSince.delete(k.name);
      continue;
    }
    if (!k.wireguard) continue;
    if (i.live.some((p) => p.underlayIP === k.underlayIP)) {
      released.push({ name: k.name, why: `its TwillNode is gone and its address ${k.underlayIP} is now another node's` });
      continue;
    }
    const since = i.goneSince.get(k.name) ?? i.nowMs;
    i.goneSince.set(k.name, since);
    const goneForMs = i.nowMs - since;
    const claimed = i.claimedBy(k.name);
    if (claimed === undefined && goneForMs > i.graceMs) {
      released.push({ name: k.name, why: `its TwillNode has been gone for ${Math.round(goneForMs / 1000)} s (grace ${Math.round(i.graceMs / 1000)} s)` });
      continue;
    }
    const blocks = k.blocks.filter((b) => {
      if (claimed !== undefined && !claimed.includes(b)) return false;
      const c = tryParseCidr(b);
      return c !== undefined && !taken.some((t) => cidrOverlaps(t, c));
    });
    if (blocks.length === 0 && k.blocks.length > 0) {
      released.push({ name: k.name, why: 'its TwillNode is gone and its blocks were reclaimed or are held by another node' });
      continue;
    }
    held.push({ ...k, blocks, goneForMs });
  }
  for (const name of [...i.goneSince.keys()]) if (!knownNames.has(name)) i.goneSince.delete(name);
  return { held, released };
}
