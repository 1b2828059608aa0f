// The cluster pool cut into blocks (pure). Which block a node tries first is derived from its
// name, so nodes joining at the same moment rarely race for the same block; the datastore's
// create-if-absent settles the races that remain.
import { createHash } from 'node:crypto';
import { TwillError } from '../../util/errors.js';
import { cidrCovers, formatCidr, parseCidr, subnets } from '../../util/ip.js';

export interface PoolSpec {
  pool: string;
  blockPrefix: number;
}

export function validatePool(p: PoolSpec): void {
  const c = parseCidr(p.pool);
  const max = c.family === 4 ? 30 : 126;
  if (!Number.isInteger(p.blockPrefix) || p.blockPrefix < c.prefix || p.blockPrefix > max) {
    throw new TwillError('CONFIG_INVALID', `block size /${p.blockPrefix} does not fit pool ${p.pool} (use /${c.prefix}…/${max})`);
  }
  if (p.blockPrefix - c.prefix > 20) {
    throw new TwillError('CONFIG_INVALID', `pool ${p.pool} cut into /${p.blockPrefix} blocks gives more than a million blocks; use larger blocks`);
  }
}

export function blockCount(p: PoolSpec): number {
  return 2 ** (p.blockPrefix - parseCidr(p.pool).prefix);
}

/** Datastore object name of a block: "10.244.0.64-26". */
export function blockName(cidr: string): string {
  return cidr.replace('/', '-').replace(/:/g, '.');
}

/** The i-th block of the pool. */
export function blockAt(p: PoolSpec, i: number): string {
  const c = parseCidr(p.pool);
  const size = 1n << BigInt((c.family === 4 ? 32 : 128) - p.blockPrefix);
  return formatCidr({ family: c.family, base: c.base + BigInt(i) * size, prefix: p.blockPrefix });
}

/**
 * Candidate blocks for `node`, in the order to try: starting at a position derived from the
 * node's name, wrapping around, skipping blocks known to be taken.
 */
export function* candidateBlocks(p: PoolSpec, node: string, taken: ReadonlySet<string>): Generator<string> {
  const n = blockCount(p);
  const start = createHash('sha256').update(node).digest().readUInt32BE(0) % n;
  for (let k = 0; k < n; k++) {
    const b = blockAt(p, (start + k) % n);
    if (!taken.has(b)) yield b;
  }
}

export function blockInPool(p: PoolSpec, block: string): boolean {
  return cidrCovers(parseCidr(p.pool), parseCidr(block));
}

export function allBlocks(p: PoolSpec): string[] {
  return [...subnets(parseCidr(p.pool), p.blockPrefix)].map(formatCidr);
}
