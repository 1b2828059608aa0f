// Sharing of repeated values among decoded objects. 30,000 pods carry a few hundred distinct
// namespaces, node names, label sets and container port lists; JSON.parse makes a fresh copy of
// each for every pod. Decoded objects are read-only by contract (callers copy before they change
// anything), so identical values can be one object. Both tables are bounded: when one fills up it
// starts over, which only costs sharing, never correctness.
const MAX_ENTRIES = 50_000;

export class Interner {
  private strings = new Map<string, string>();
  private values = new Map<string, unknown>();

  str<T extends string | undefined>(s: T): T {
    if (s === undefined) return s;
    const hit = this.strings.get(s);
    if (hit !== undefined) return hit as T;
    if (this.strings.size >= MAX_ENTRIES) this.strings = new Map();
    this.strings.set(s, s);
    return s;
  }

  /** One shared instance per distinct JSON value (object keys in the order given). */
  value<T>(v: T): T {
    const key = JSON.stringify(v);
    const hit = this.values.get(key);
    if (hit !== undefined) return hit as T;
    if (this.values.size >= MAX_ENTRIES) this.values = new Map();
    this.values.set(key, v);
    return v;
  }
}
