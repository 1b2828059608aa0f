// The datastore lost its data (etcd restarted empty, restored from an old backup): the agents
// re-create the cluster state from what they hold (configuration, registrations, blocks; the
// kernel keeps the datapath). Until every live agent has written back its blocks, a block missing
// from the datastore may still be in use on a node that has not reconnected yet, and a new claim
// could take it and hand out its addresses a second time. So an agent that sees the loss refuses
// new claims for a while (an ADD that needs a new block fails with CNI code 11 and is retried);
// writing back its own blocks is not a claim and goes on. Nothing is deleted by the loss: a
// peer's blocks come back with its registration, and only a node still gone after the grace
// period loses them, as always.
import type { IPAMBlock } from '../../model/types.js';
import type { Problems } from '../problems.js';

export class ClaimFreeze {
  private until = 0;
  private why = '';

  constructor(
    private readonly problems: Problems,
    private readonly mono: () => number,
    private readonly ms: number,
  ) {}

  /** The loss was seen (`why`): freeze new claims from now on for the window. */
  freeze(why: string): void {
    this.until = this.mono() + this.ms;
    this.why = why;
    this.problems.event('claims-frozen', 'warn', `the datastore lost this cluster's state (${why}); the agents write back what they hold; this node claims no new block for ${Math.round(this.ms / 1000)} s so that no block, and no address, is handed out twice`, {}, this.ms);
  }

  /** Why new block claims are refused now (undefined: they are not). */
  reason(): string | undefined {
    const left = this.until - this.mono();
    return left > 0 ? `the datastore lost its data (${this.why}); new block claims are frozen for ${Math.ceil(left / 1000)} s more while the agents write back their blocks` : undefined;
  }
}

/**
 * Blocks this node holds that the watched list no longer shows (deleted by hand, or reclaimed
 * while this node was cut off): another node could claim them and hand out addresses our pods
 * hold. Only deletions and relists count: an ADDED event may trail our own claim.
 */
export function vanishedBlocks(event: string, listed: IPAMBlock[], node: string, held: string[]): string[] {
  if (!event.endsWith(' deleted') && !event.endsWith(' resync')) return [];
  const inList = new Set(listed.filter((b) => b.spec.node === node).map((b) => b.spec.cidr));
  return held.filter((b) => !inList.has(b));
}
