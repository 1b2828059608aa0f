// `ipam: kubernetes`: the node's blocks are its Node's spec.podCIDRs, handed out by
// kube-controller-manager (--allocate-node-cidrs), as Flannel and Cilium can use them. Nothing is
// claimed, grown or reclaimed: the API owns the assignment.
import type { BlockClaims } from './claims.js';

/** What the cluster member needs from whoever holds this node's blocks. */
export type BlockHolder = Pick<BlockClaims, 'current' | 'lostBlocks' | 'setPool' | 'init' | 'resync' | 'claimMore' | 'ensureOne' | 'reclaimDead' | 'cacheError' | 'audit'>;

export class FixedBlocks implements BlockHolder {
  /** No block cache: the API holds the assignment. */
  readonly cacheError = undefined;

  constructor(private readonly cidrs: readonly string[]) {}

  current(): string[] {
    return [...this.cidrs];
  }

  lostBlocks(): string[] {
    return [];
  }

  setPool(): void {}

  init(): Promise<void> {
    return Promise.resolve();
  }

  resync(): Promise<void> {
    return Promise.resolve();
  }

  /** The Node's podCIDRs are all there is: a full node cannot grow. */
  claimMore(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  ensureOne(): Promise<void> {
    return Promise.resolve();
  }

  reclaimDead(): Promise<string[]> {
    return Promise.resolve([]);
  }

  /** No cache file to check. */
  audit(): Promise<[]> {
    return Promise.resolve([]);
  }
}
