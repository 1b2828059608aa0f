// The return of dead nodes' blocks to the pool. A node is dead once it has been absent from the
// peer list for the grace period, measured on a monotonic clock (a wall-clock jump must neither
// free a live node's blocks early nor hold a dead node's forever).
import type { Store } from '../../datastore/store.js';
import type { BlockHolder } from '../../ipam/cluster/fixed.js';
import type { IPAMBlock, TwillNode } from '../../model/types.js';
import { describeError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';

export interface ReclaimInput {
  store: Store;
  nodeName: string;
  claims: BlockHolder;
  peers: ReadonlyMap<string, TwillNode>;
  /** Since when (monotonic ms) each absent node has been gone; updated in place. */
  goneSince: Map<string, number>;
  /** A watched cache of the blocks, when it is synced (no list per tick). */
  blocks: IPAMBlock[] | undefined;
  graceMs: number;
  nowMs: number;
  log: Logger;
}

/** One reclaim pass; a failure is logged and left to the next tick. */
export async function reclaimDeadNodes(r: ReclaimInput): Promise<void> {
  try {
    const items = r.blocks ?? (await r.store.list('IPAMBlock')).items;
    for (const b of items) {
      const holder = b.spec.node;
      if (holder !== r.nodeName && !r.peers.has(holder) && !r.goneSince.has(holder)) r.goneSince.set(holder, r.nowMs);
    }
    const freed = await r.claims.reclaimDead(r.goneSince, r.graceMs, r.nowMs, items);
    for (const [node] of r.goneSince) {
      if (!items.some((b) => b.spec.node === node && !freed.includes(b.spec.cidr)) && !r.peers.has(node)) r.goneSince.delete(node);
    }
  } catch (e) {
    // Retried at the next tick; a dead node's blocks wait a little longer, nothing is lost.
    r.log.warn('cannot return dead nodes\' blocks to the pool this time; retrying', { error: describeError(e) });
  }
}
