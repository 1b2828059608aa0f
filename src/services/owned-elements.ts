// One bulk map's elements in the incremental compiler (compiler.ts): which Services hold each key.
import type { NftElement } from '../policy/model.js';

/**
 * Elements of one bulk map with their owners (Services); the smallest owner key wins a shared key.
 * Only the owner is kept per key: the value is read from the owner's fragment (`valueOf`), whose
 * key strings these are too. 70,000 keys at 10,000 Services: a [owner, value] pair per key and
 * keys of their own were ~15 MB of heap.
 */
export class OwnedElements {
  private readonly one = new Map<string, string>();
  private readonly many = new Map<string, Set<string>>();

  constructor(
    private readonly map: string,
    private readonly valueOf: (owner: string, map: string, key: string) => string | undefined,
  ) {}

  get size(): number {
    return this.one.size + this.many.size;
  }

  value(key: string): string | undefined {
    const o = this.one.get(key);
    if (o !== undefined) return this.valueOf(o, this.map, key);
    const m = this.many.get(key);
    if (!m) return undefined;
    let best: string | undefined;
    for (const k of m) if (best === undefined || k < best) best = k;
    return this.valueOf(best!, this.map, key);
  }

  /** `owner` holds `key` (its fragment says with which value). */
  set(key: string, owner: string): void {
    const m = this.many.get(key);
    if (m) return void m.add(owner);
    const o = this.one.get(key);
    if (o === undefined || o === owner) return void this.one.set(key, owner);
    this.one.delete(key);
    this.many.set(key, new Set([o, owner]));
  }

  delete(key: string, owner: string): void {
    const o = this.one.get(key);
    if (o !== undefined) return void (o === owner && this.one.delete(key));
    const m = this.many.get(key);
    if (!m) return;
    m.delete(owner);
    if (m.size === 1) {
      this.many.delete(key);
      this.one.set(key, [...m][0]!);
    }
  }

  /** Sorted by key unless `sorted` is false (a first load: the kernel keeps no order; sorting 70,000 keys took ~0.1 s). */
  elements(withValues: boolean, sorted = true): NftElement[] {
    const keys = [...this.one.keys(), ...this.many.keys()];
    if (sorted) keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return keys.map((key) => (withValues ? { key, value: this.value(key)! } : { key }));
  }
}
