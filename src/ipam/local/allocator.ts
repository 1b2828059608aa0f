// Node-local address allocation: from the blocks this node holds, one on-disk record per address,
// serialised by a mutex. Next-fit from a moving cursor, so a just-released address is not handed
// out again at once (stale ARP and conntrack entries for it have time to die).
import { TwillError } from '../../util/errors.js';
import { Mutex } from '../../util/mutex.js';
import { cidrContains, cidrSize, formatIp, parseCidr, parseIp, type ParsedCidr } from '../../util/ip.js';
import { RecordDir, type AddressRecord } from './records.js';
import { quarantineFile, stateDirOf } from '../../util/quarantine.js';

export interface BlockSource {
  /** CIDRs of the blocks this node holds now, in allocation order. */
  current(): string[];
  /** Claims one more block when all are full; undefined when none can be had. */
  claimMore?(): Promise<string | undefined>;
}

export interface Owner {
  containerId: string;
  ifname: string;
}

export function ownerKey(o: Owner): string {
  return `${o.containerId}/${o.ifname}`;
}

export interface IpamStats {
  blocks: string[];
  allocated: number;
  capacity: number;
}

export class LocalIpam {
  private readonly records: RecordDir;
  private readonly mutex = new Mutex();
  private readonly byIp = new Map<string, AddressRecord>();
  private readonly byOwner = new Map<string, string>();
  private cursor = { block: 0, offset: 0n };

  constructor(
    dir: string,
    private readonly source: BlockSource,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.records = new RecordDir(dir);
  }

  async init(): Promise<void> {
    await this.records.init();
    for (const rec of await this.records.loadAll()) this.index(rec);
  }

  private index(rec: AddressRecord): void {
    this.byIp.set(rec.ip, rec);
    if (rec.containerId) this.byOwner.set(ownerKey(rec), rec.ip);
  }

  /** The first address of every block is reserved (network address; the VTEP address). */
  static isReserved(block: ParsedCidr, offset: bigint): boolean {
    return offset === 0n;
  }

  lookup(owner: Owner): string | undefined {
    return this.byOwner.get(ownerKey(owner));
  }

  /**
   * The state audit: every record this allocator holds is compared with its file; a damaged one
   * is quarantined and rewritten (the address stays with its owner). A file of an address this
   * allocator does not hold is reported once and left: it only keeps that address from being
   * handed out (O_EXCL), which loses nothing.
   */
  audit(): Promise<{ file: string; damage: string; repair: string; quarantinedTo?: string | undefined }[]> {
    return this.mutex.run(() => {
      const out: { file: string; damage: string; repair: string; quarantinedTo?: string | undefined }[] = [];
      const dir = this.records.dir;
      for (const rec of this.byIp.values()) {
        if (rec.unreadable !== undefined || !rec.containerId) continue; // known since start, and reported then
        const damage = this.records.damage(rec);
        if (!damage) continue;
        const file = `${dir}/${rec.ip}`;
        const q = damage === 'missing' ? undefined : quarantineFile(file, stateDirOf(dir), 'address');
        this.records.rewrite(rec);
        out.push({ file, damage, repair: `quarantined it and rewrote it from the agent's memory (${rec.ip} stays with ${ownerKey(rec)})`, quarantinedTo: q?.movedTo ?? q?.moveError });
      }
      for (const ip of this.records.namesOnDisk()) {
        if (this.byIp.has(ip) || this.strays.has(ip)) continue;
        this.strays.add(ip);
        out.push({ file: `${dir}/${ip}`, damage: 'a record of an address this agent does not hold', repair: 'left in place: it keeps the address from being handed out; remove it by hand if no pod uses it' });
      }
      return Promise.resolve(out);
    });
  }

  private readonly strays = new Set<string>();

  allRecords(): AddressRecord[] {
    return [...this.byIp.values()];
  }

  stats(): IpamStats {
    const blocks = this.source.current();
    const capacity = blocks.reduce((n, b) => n + Number(cidrSize(parseCidr(b))) - 1, 0);
    return { blocks, allocated: this.byIp.size, capacity };
  }

  /** True when some block still has a free address (STATUS uses it). */
  hasFree(): boolean {
    const s = this.stats();
    return s.allocated < s.capacity;
  }

  async allocate(owner: Owner): Promise<string> {
    return this.mutex.run(async () => {
      const existing = this.byOwner.get(ownerKey(owner));
      if (existing) return existing;
      let ip = await this.tryAllocate(owner);
      if (ip) return ip;
      const more = await this.source.claimMore?.();
      if (more) ip = await this.tryAllocate(owner);
      if (ip) return ip;
      const blocks = this.source.current();
      throw new TwillError(
        'IPAM_EXHAUSTED',
        blocks.length === 0
          ? 'this node holds no address block yet (is the datastore reachable?)'
          : `no free address in this node's blocks (${blocks.join(', ')})${this.source.claimMore ? ' and no further block could be claimed' : ''}`,
        { details: 'delete unused pods, or give the node a larger pod CIDR / the cluster a larger pool' },
      );
    });
  }

  private async tryAllocate(owner: Owner): Promise<string | undefined> {
    const blocks = this.source.current().map((b) => parseCidr(b));
    if (blocks.length === 0) return undefined;
    const startBlock = this.cursor.block % blocks.length;
    for (let bi = 0; bi < blocks.length; bi++) {
      const b = (startBlock + bi) % blocks.length;
      const block = blocks[b]!;
      const size = cidrSize(block);
      const startOff = bi === 0 ? this.cursor.offset % size : 0n;
      for (let k = 0n; k < size; k++) {
        const off = (startOff + k) % size;
        if (LocalIpam.isReserved(block, off)) continue;
        const ip = formatIp({ family: block.family, value: block.base + off });
        if (this.byIp.has(ip)) continue;
        const rec: AddressRecord = { ip, ...owner, allocatedAt: this.now().toISOString() };
        if (!this.records.create(rec)) {
          // Someone else's record on disk that we had not loaded: adopt it as taken.
          this.byIp.set(ip, { ip, containerId: '', ifname: '', allocatedAt: '' });
          continue;
        }
        this.index(rec);
        this.cursor = { block: b, offset: off + 1n };
        return ip;
      }
    }
    return undefined;
  }

  /** Releases whatever `owner` holds; returns the released address, if any. Idempotent. */
  async release(owner: Owner): Promise<string | undefined> {
    return this.mutex.run(async () => {
      const ip = this.byOwner.get(ownerKey(owner));
      if (!ip) return undefined;
      this.records.remove(ip);
      this.byIp.delete(ip);
      this.byOwner.delete(ownerKey(owner));
      return ip;
    });
  }

  /** Records whose file could not be read or parsed (owner unknown; the address stays reserved). */
  unreadable(): AddressRecord[] {
    return [...this.byIp.values()].filter((r) => r.unreadable !== undefined);
  }

  /**
   * Rewrites the record of `ip` as owned by `owner` (repair from an attachment record, which is
   * written after the address record and so is the later truth). Refuses to take an address from
   * another readable owner.
   */
  async adopt(owner: Owner, ip: string): Promise<void> {
    return this.mutex.run(async () => {
      const cur = this.byIp.get(ip);
      if (cur?.containerId && ownerKey(cur) !== ownerKey(owner)) {
        throw new TwillError('CONFLICT', `address ${ip} is recorded for ${ownerKey(cur)}, not ${ownerKey(owner)}`);
      }
      const prev = this.byOwner.get(ownerKey(owner));
      if (prev && prev !== ip) throw new TwillError('CONFLICT', `${ownerKey(owner)} already holds ${prev}, not ${ip}`);
      const rec: AddressRecord = { ip, ...owner, allocatedAt: this.now().toISOString() };
      this.records.rewrite(rec);
      this.index(rec);
    });
  }

  /**
   * Releases every address whose owner is not in `keep` (CNI GC and start-up GC), except the
   * addresses in `keepIps` (in use by a live interface whose record is unreadable: evidence in
   * the kernel beats a missing file). A record with no readable owner is released only when its
   * address is not in `keepIps`: the caller checks the attachments and the kernel first.
   */
  async gc(keep: Set<string>, keepIps: ReadonlySet<string> = new Set()): Promise<AddressRecord[]> {
    return this.mutex.run(async () => {
      const freed: AddressRecord[] = [];
      for (const rec of [...this.byIp.values()]) {
        if (keepIps.has(rec.ip)) continue;
        if (rec.containerId && keep.has(ownerKey(rec))) continue;
        this.records.remove(rec.ip);
        this.byIp.delete(rec.ip);
        if (rec.containerId) this.byOwner.delete(ownerKey(rec));
        freed.push(rec);
      }
      return freed;
    });
  }

  /** Addresses held on disk that lie outside every current block (e.g. a block was taken away). */
  orphans(): AddressRecord[] {
    const blocks = this.source.current().map((b) => parseCidr(b));
    return [...this.byIp.values()].filter((r) => !blocks.some((b) => cidrContains(b, parseIp(r.ip))));
  }
}
