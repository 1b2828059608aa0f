// This node's blocks of the cluster pool. A block is claimed by creating its IPAMBlock object
// (create-if-absent: exactly one node wins a race). The blocks held are also kept in a local file,
// so pods can be added while the datastore is unreachable, and after a restart during an outage.
import { readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Store } from '../../datastore/store.js';
import { TWILL_API, type IPAMBlock } from '../../model/types.js';
import { TwillError, describeError, errnoCode, isTwillError } from '../../util/errors.js';
import { quarantineFile } from '../../util/quarantine.js';
import { dirname } from 'node:path';
import { compareIp, parseCidr } from '../../util/ip.js';
import type { Logger } from '../../util/log.js';
import type { BlockSource } from '../local/allocator.js';
import { blockInPool, blockName, candidateBlocks, type PoolSpec } from './pool.js';

const MAX_CLAIM_ATTEMPTS = 64;

function byAddress(a: string, b: string): number {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return compareIp({ family: x.family, value: x.base }, { family: y.family, value: y.base });
}

export class BlockClaims implements BlockSource {
  private blocks: string[] = [];
  /** Blocks another node now holds although we had them: never allocate from these. */
  private lost = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly node: string,
    private pool: PoolSpec,
    private readonly cacheFile: string,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  current(): string[] {
    return this.blocks.filter((b) => !this.lost.has(b));
  }

  lostBlocks(): string[] {
    return [...this.lost];
  }

  setPool(p: PoolSpec): void {
    this.pool = p;
  }

  /** Called when resync wrote back a block the datastore had lost (the agent shows it). */
  onWrittenBack: ((block: string) => void) | undefined;

  /** Why the local block cache could not be used at start-up (shown by `twill status`). */
  cacheError: string | undefined;

  /**
   * Loads the local cache, then (if the datastore answers) confirms each block with it. No cache
   * is a first start; a cache that cannot be read or parsed is quarantined and reported, and the
   * datastore alone says which blocks this node holds (until it answers, none: new pods wait).
   */
  async init(): Promise<void> {
    this.blocks = [];
    let text: string | undefined;
    try {
      text = await readFile(this.cacheFile, 'utf8');
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') this.badCache(`cannot read it: ${describeError(e)}`);
    }
    if (text !== undefined) {
      try {
        const cached = JSON.parse(text) as { blocks?: unknown } | null;
        if (!cached || !Array.isArray(cached.blocks) || !cached.blocks.every((b) => typeof b === 'string' && /\/\d+$/.test(b))) throw new Error('no list of blocks in it');
        this.blocks = cached.blocks as string[];
      } catch (e) {
        this.badCache(`cannot parse it: ${describeError(e)}`);
      }
    }
    await this.resync().catch((e: unknown) => this.log.warn('datastore unreachable; using cached blocks', { blocks: this.blocks.join(',') || 'none', error: describeError(e) }));
  }

  private badCache(why: string): void {
    const q = quarantineFile(this.cacheFile, dirname(this.cacheFile), 'blocks');
    this.cacheError = `block cache ${this.cacheFile} unusable (${why}); ${q.movedTo ? `quarantined to ${q.movedTo}` : `not moved: ${q.moveError}`}`;
    this.log.error('the local block cache is unusable; the blocks this node holds are taken from the datastore', { file: this.cacheFile, why, quarantinedTo: q.movedTo, moveError: q.moveError });
  }

  /** The cache file's text as last written (undefined: not written by this process yet). */
  private persisted: string | undefined;
  private persisting = 0;

  private async persist(): Promise<void> {
    const tmp = `${this.cacheFile}.tmp-${process.pid}`;
    const text = JSON.stringify({ node: this.node, blocks: this.blocks }) + '\n';
    this.persisting++;
    try {
      await writeFile(tmp, text);
      await rename(tmp, this.cacheFile);
      this.persisted = text;
    } finally {
      this.persisting--;
    }
  }

  /**
   * The state audit: the cache file must say what this node holds. One that differs or cannot be
   * read is quarantined and written again from memory (else the next start would take its
   * blocks from a damaged file, or from the datastore alone during an outage).
   */
  async audit(): Promise<{ file: string; damage: string; repair: string; quarantinedTo?: string | undefined }[]> {
    if (this.persisting > 0) return []; // a write in flight: the next pass looks
    const want = this.persisted ?? JSON.stringify({ node: this.node, blocks: this.blocks }) + '\n';
    let damage: string | undefined;
    let present = true;
    try {
      const text = readFileSync(this.cacheFile, 'utf8');
      if (text === want) return [];
      const got = JSON.parse(text) as { blocks?: unknown } | null;
      damage = Array.isArray(got?.blocks) ? `lists ${(got.blocks as unknown[]).join(',') || 'no block'}, not ${this.blocks.join(',') || 'no block'}` : 'no list of blocks in it';
    } catch (e) {
      present = errnoCode(e) !== 'ENOENT';
      damage = present ? `unreadable or unparsable: ${describeError(e)}` : 'missing';
    }
    if (this.persisting > 0) return [];
    const q = present ? quarantineFile(this.cacheFile, dirname(this.cacheFile), 'blocks') : undefined;
    await this.persist();
    return [{ file: this.cacheFile, damage, repair: `quarantined it and wrote it again from the agent's memory (blocks ${this.blocks.join(',') || 'none'})`, quarantinedTo: q?.movedTo ?? q?.moveError }];
  }

  /**
   * Reconciles the cache with the datastore: blocks the datastore says we hold are added; blocks
   * we hold locally but the datastore lost (e.g. reclaimed while we were away) are claimed again
   * if still free, or marked lost if another node took them.
   */
  async resync(): Promise<void> {
    const { items } = await this.store.list('IPAMBlock');
    const byCidr = new Map(items.map((b) => [b.spec.cidr, b]));
    const mine = new Set(items.filter((b) => b.spec.node === this.node).map((b) => b.spec.cidr));
    for (const b of this.blocks) {
      if (mine.has(b)) continue;
      const holder = byCidr.get(b);
      if (holder) {
        if (!this.lost.has(b)) this.log.error('a block this node used is now held by another node; no new pods get addresses from it', { block: b, holder: holder.spec.node });
        this.lost.add(b);
        continue;
      }
      if (await this.tryClaim(b)) {
        mine.add(b);
        this.log.warn('a block this node holds was missing from the datastore (deleted, reclaimed while this node was away, or the data lost); claimed it again', { block: b });
        this.onWrittenBack?.(b);
      }
    }
    const next = [...new Set([...this.blocks, ...mine])].sort(byAddress);
    const changed = next.join() !== this.blocks.join();
    this.blocks = next;
    if (changed) await this.persist();
  }

  private async tryClaim(cidr: string): Promise<boolean> {
    const obj: IPAMBlock = {
      apiVersion: TWILL_API,
      kind: 'IPAMBlock',
      metadata: { name: blockName(cidr) },
      spec: { cidr, node: this.node, claimedAt: this.now().toISOString() },
    };
    try {
      await this.store.create(obj);
      return true;
    } catch (e) {
      if (isTwillError(e, 'EXISTS')) return false;
      throw e;
    }
  }

  /** A reason not to claim new blocks now (the datastore lost its data: claims.freeze). */
  claimGate: (() => string | undefined) | undefined;

  /** Claims one more block; undefined when the pool is full or the datastore unreachable. */
  async claimMore(): Promise<string | undefined> {
    const frozen = this.claimGate?.();
    if (frozen) {
      this.log.warn('not claiming a new block now', { why: frozen });
      return undefined;
    }
    try {
      const { items } = await this.store.list('IPAMBlock');
      const taken = new Set(items.map((b) => b.spec.cidr));
      let attempts = 0;
      for (const cidr of candidateBlocks(this.pool, this.node, taken)) {
        if (++attempts > MAX_CLAIM_ATTEMPTS) break;
        if (await this.tryClaim(cidr)) {
          this.blocks = [...this.blocks, cidr].sort(byAddress);
          await this.persist();
          this.log.info('claimed block', { block: cidr, blocks: this.blocks.length });
          return cidr;
        }
      }
      if (taken.size >= 2 ** (this.pool.blockPrefix - parseCidr(this.pool.pool).prefix)) {
        this.log.error('the pool is exhausted: every block is held', { pool: this.pool.pool });
      }
      return undefined;
    } catch (e) {
      // The datastore refused or was unreachable, or the cache could not be written: say which.
      this.log.warn('cannot claim a block', { error: describeError(e) });
      return undefined;
    }
  }

  /** Makes sure the node holds at least one block (at start-up). */
  async ensureOne(): Promise<void> {
    if (this.current().length > 0) return;
    if (!(await this.claimMore())) {
      throw new TwillError('TRY_AGAIN', `cannot claim an address block from pool ${this.pool.pool}`, { details: 'is the datastore reachable, and does the pool have free blocks?' });
    }
  }

  /** Blocks of this node outside the configured pool (the pool was changed): reported, kept. */
  outsidePool(): string[] {
    return this.blocks.filter((b) => !blockInPool(this.pool, b));
  }

  /**
   * Returns dead nodes' blocks to the pool: `goneSince` says since when each absent node has been
   * gone. Deletion is compare-and-swap, so when several agents try, one succeeds. `known` is a
   * watched cache of the blocks (no list per call); without it the blocks are listed.
   */
  async reclaimDead(goneSince: ReadonlyMap<string, number>, graceMs: number, nowMs: number, known?: IPAMBlock[]): Promise<string[]> {
    const items = known ?? (await this.store.list('IPAMBlock')).items;
    const freed: string[] = [];
    for (const b of items) {
      if (b.spec.node === this.node) continue;
      const since = goneSince.get(b.spec.node);
      if (since === undefined || nowMs - since < graceMs) continue;
      try {
        if (await this.store.delete('IPAMBlock', b.metadata.name, b.metadata.resourceVersion ? { resourceVersion: b.metadata.resourceVersion } : {})) {
          freed.push(b.spec.cidr);
          this.log.info('reclaimed the block of a dead node', { block: b.spec.cidr, node: b.spec.node, goneForSeconds: Math.round((nowMs - since) / 1000) });
        }
      } catch (e) {
        if (!isTwillError(e, 'CONFLICT') && !isTwillError(e, 'NOT_FOUND')) throw e;
      }
    }
    return freed;
  }
}
