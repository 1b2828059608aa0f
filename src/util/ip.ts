// IPv4/IPv6 addresses and CIDRs as plain data. Values are bigints so one code path serves both
// families (dual-stack is on the roadmap); parsing is strict so bad input fails with a reason.

export type Family = 4 | 6;

export interface IpAddr {
  family: Family;
  value: bigint;
}

export interface Cidr {
  family: Family;
  /** The network address (host bits cleared). */
  base: bigint;
  prefix: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function bits(family: Family): number {
  return BITS[family];
}

function parseV4(s: string): bigint | undefined {
  // Scanned in place (no split, no regex) and a number until the end: tens of thousands of
  // addresses are parsed at a Services full sync. Strict: four decimal parts 0–255, no leading
  // zeros, nothing else.
  let v = 0;
  let part = 0;
  let n = 0;
  let digits = 0;
  let leadingZero = false;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || n > 255 || part === 4) return undefined;
      v = v * 256 + n;
      part++;
      n = 0;
      digits = 0;
      leadingZero = false;
    } else if (c >= 0x30 && c <= 0x39) {
      if (leadingZero || digits === 3) return undefined;
      if (digits === 0 && c === 0x30) leadingZero = true;
      n = n * 10 + (c - 0x30);
      digits++;
    } else return undefined;
  }
  return part === 4 ? BigInt(v) : undefined;
}

function parseV6(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length < 2) return undefined;
  let tail4: bigint | undefined;
  let str = s;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (tail4 === undefined) return undefined;
    str = s.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = str.split('::');
  if (dbl.length > 2) return undefined;
  const head = dbl[0] === '' ? [] : dbl[0]!.split(':');
  const tail = dbl.length === 2 ? (dbl[1] === '' ? [] : dbl[1]!.split(':')) : [];
  const groups = dbl.length === 2 ? [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  if (groups.length !== 8 || (dbl.length === 2 && head.length + tail.length > 7)) return undefined;
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail4 !== undefined) v = (v & ~0xffffffffn) | tail4;
  return v;
}

export function tryParseIp(s: string): IpAddr | undefined {
  if (typeof s !== 'string') return undefined;
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseV4(s);
  return v === undefined ? undefined : { family: 4, value: v };
}

export function parseIp(s: string): IpAddr {
  const ip = tryParseIp(s);
  if (!ip) throw new TypeError(`"${s}" is not an IPv4 or IPv6 address`);
  return ip;
}

export function isIp(s: unknown): s is string {
  return typeof s === 'string' && tryParseIp(s) !== undefined;
}

export function formatIp(ip: IpAddr): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (length >= 2) of zero groups, leftmost on ties.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

// Every CIDR test masks; computing the mask with BigInt shifts each time was most of what a
// 1,000-node routing compile cost. One table per family, built once.
const MASKS: Record<Family, bigint[]> = {
  4: Array.from({ length: 33 }, (_, p) => ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - p)) - 1n)),
  6: Array.from({ length: 129 }, (_, p) => ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - p)) - 1n)),
};

/** The network mask of a prefix length, as a number of the family's width. */
export function prefixMask(family: Family, prefix: number): bigint {
  return MASKS[family][prefix] ?? ((1n << BigInt(BITS[family])) - 1n) ^ ((1n << BigInt(BITS[family] - prefix)) - 1n);
}

export interface ParsedCidr extends Cidr {
  /** The address as written, which may have host bits set ("10.0.0.5/24"). */
  addr: bigint;
}

export function tryParseCidr(s: string): ParsedCidr | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = tryParseIp(s.slice(0, slash));
  const ps = s.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(ps)) return undefined;
  const prefix = Number(ps);
  if (prefix > BITS[ip.family]) return undefined;
  return { family: ip.family, base: ip.value & prefixMask(ip.family, prefix), prefix, addr: ip.value };
}

export function parseCidr(s: string): ParsedCidr {
  const c = tryParseCidr(s);
  if (!c) throw new TypeError(`"${s}" is not a CIDR (expected e.g. 10.244.0.0/16 or fd00::/64)`);
  return c;
}

export function isCidr(s: unknown): s is string {
  return typeof s === 'string' && tryParseCidr(s) !== undefined;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.base })}/${c.prefix}`;
}

export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(BITS[c.family] - c.prefix);
}

export function cidrLast(c: Cidr): bigint {
  return c.base + cidrSize(c) - 1n;
}

export function cidrContains(c: Cidr, ip: IpAddr): boolean {
  return ip.family === c.family && (ip.value & prefixMask(c.family, c.prefix)) === c.base;
}

/** True when `inner` lies entirely within `outer`. */
export function cidrCovers(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.prefix >= outer.prefix && (inner.base & prefixMask(outer.family, outer.prefix)) === outer.base;
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrCovers(a, b) || cidrCovers(b, a);
}

/** The n-th address of the CIDR (0 = network address). */
export function cidrAddr(c: Cidr, n: bigint): IpAddr {
  return { family: c.family, value: c.base + n };
}

/** Splits `c` into subnets of `newPrefix`, in address order. */
export function* subnets(c: Cidr, newPrefix: number): Generator<Cidr> {
  if (newPrefix < c.prefix || newPrefix > BITS[c.family]) {
    throw new RangeError(`cannot split /${c.prefix} into /${newPrefix}`);
  }
  const step = 1n << BigInt(BITS[c.family] - newPrefix);
  const count = 1n << BigInt(newPrefix - c.prefix);
  for (let i = 0n; i < count; i++) yield { family: c.family, base: c.base + i * step, prefix: newPrefix };
}

export function compareIp(a: IpAddr, b: IpAddr): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** Host-route prefix: "/32" for IPv4, "/128" for IPv6. */
export function hostCidr(ip: string): string {
  return `${ip}/${BITS[parseIp(ip).family]}`;
}

/** Network-order bytes, for netlink. */
export function ipToBytes(ip: IpAddr): Buffer {
  const n = BITS[ip.family] / 8;
  const out = Buffer.alloc(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function ipFromBytes(b: Uint8Array): IpAddr {
  if (b.length !== 4 && b.length !== 16) throw new TypeError(`address of ${b.length} bytes`);
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return { family: b.length === 4 ? 4 : 6, value: v };
}

export function normalizeIp(s: string): string {
  return formatIp(parseIp(s));
}

export function normalizeCidr(s: string): string {
  return formatCidr(parseCidr(s));
}
