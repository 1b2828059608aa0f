// An incremental policy transaction (diff.ts) as one nf_tables netlink batch: the same steps in
// the same order as the `nft -f` text, encoded by the agent. Only the shapes the compiler emits
// for non-base objects are encoded: group maps (address . protocol . port interval maps), group,
// counting and drop chains and their rules, and elements of every set of the table. Anything else
// (a base chain, a named counter, a rule of another shape, a key it cannot read) makes
// `encodeDiff` answer with the reason, and the caller uses `nft -f` for the whole transaction.
import { isIPv4 } from 'node:net';
import { endianness } from 'node:os';
import { NFPROTO_INET, NftBatch, META_KEY, PAYLOAD_BASE, exprs, regAt, type Attr, type Element, type Verdict } from '../dataplane/kernel/nfnetlink.js';
import { renderOp, type DiffOp } from './diff.js';
import type { NftElement, NftSet } from './model.js';

/** nftables datatype ids (nft's src/datatype.h). */
const TYPE: Record<string, { id: number; len: number }> = {
  ipv4_addr: { id: 7, len: 4 },
  ipv6_addr: { id: 8, len: 16 },
  inet_proto: { id: 12, len: 1 },
  inet_service: { id: 13, len: 2 },
  ifname: { id: 41, len: 16 },
};
const PROTO: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, sctp: 132, icmpv6: 58 };

class Unsupported extends Error {}
const no = (why: string): never => {
  throw new Unsupported(why);
};

/** Rule shapes another table's owner encodes itself (services' draw rules): undefined when not its shape. */
export type RuleEncoder = (text: string, batch: NftBatch) => Attr[] | undefined;

/** The batch for these steps, or the reason they need `nft -f`. */
export function encodeDiff(table: string, ops: DiffOp[], opts: { rule?: RuleEncoder } = {}): { batch: NftBatch } | { unsupported: string } {
  const batch = new NftBatch(NFPROTO_INET, table);
  const t = `inet ${table}`;
  try {
    for (const o of ops) {
      const what = describe(t, o);
      switch (o.op) {
        case 'addChain':
          if (o.chain.base) no(`chain ${o.chain.name} is a base chain`);
          if (o.chain.comment !== undefined && Buffer.byteLength(o.chain.comment) > 254) no(`the comment of chain ${o.chain.name} is too long for one user-data field`);
          batch.addChain(o.chain.name, o.chain.comment === undefined ? {} : { comment: o.chain.comment }, what);
          break;
        case 'addSet': {
          const s = o.set;
          if (!isGroupMap(s)) no(`set ${s.name} is not an address . protocol . port interval map`);
          if (s.comment !== undefined) no(`map ${s.name} has a comment (group maps have none; not encoded)`);
          batch.addConcatIntervalMap({ name: s.name, types: s.type.map((x) => TYPE[x]!.id), lengths: s.type.map((x) => TYPE[x]!.len) }, what);
          break;
        }
        case 'deleteElements':
          batch.deleteElements(o.set.name, o.elements.map((e) => element(o.set, e, false)), what);
          break;
        case 'addElements':
          batch.addElements(o.set.name, o.elements.map((e) => element(o.set, e, true)), what);
          break;
        case 'flushChain':
          batch.flushChain(o.chain, what);
          break;
        case 'addRule':
          batch.addRule(o.chain, opts.rule?.(o.rule, batch) ?? rule(o.rule, batch), what);
          break;
        case 'deleteSet':
          batch.deleteSet(o.set.name, what);
          break;
        case 'deleteChain':
          batch.deleteChain(o.chain, what);
          break;
        case 'addCounter':
        case 'deleteCounter':
          no('named counters are not encoded');
      }
    }
  } catch (e) {
    if (e instanceof Unsupported) return { unsupported: e.message };
    throw e;
  }
  return { batch };
}

/** The step as a person reads it in an error (element lists shortened to their first element). */
function describe(t: string, o: DiffOp): string {
  if (o.op !== 'addElements' && o.op !== 'deleteElements') return renderOp(t, o);
  const [first, n] = [o.elements[0], o.elements.length];
  const el = first ? (o.op === 'addElements' && first.value ? `${first.key} : ${first.value}` : first.key) : '';
  return `${o.op === 'addElements' ? 'add' : 'delete'} element ${t} ${o.set.name} { ${el}${n > 1 ? `, … (${n} elements)` : ''} }`;
}

function isGroupMap(s: NftSet): boolean {
  return s.map === 'verdict' && s.flags.length === 1 && s.flags[0] === 'interval' && s.type.length === 3 && (s.type[0] === 'ipv4_addr' || s.type[0] === 'ipv6_addr') && s.type[1] === 'inet_proto' && s.type[2] === 'inet_service';
}

// ---- rules ----

const GROUP_RULE = /^(ip6?) (saddr|daddr) \. meta l4proto \. th dport vmap @([A-Za-z0-9_]+)$/;

const LOG_RULE = /^limit rate (\d+)\/second burst (\d+) packets log prefix "([^"\\]*)" group (\d+)$/;

function rule(text: string, batch: NftBatch): Attr[] {
  const m = GROUP_RULE.exec(text);
  if (m) {
    const v6 = m[1] === 'ip6';
    const addrLen = v6 ? 16 : 4;
    const offset = v6 ? (m[2] === 'saddr' ? 8 : 24) : m[2] === 'saddr' ? 12 : 16;
    const set = m[3]!;
    // As nft compiles it in an inet table: the family check, then the three fields loaded into
    // consecutive registers (the protocol's byte-order conversion is nft's, a no-op on one
    // byte), then the map lookup whose result is the verdict.
    return [
      exprs.meta(META_KEY.nfproto, 1),
      exprs.cmpEq(1, Buffer.from([v6 ? 10 : 2])),
      exprs.payload(PAYLOAD_BASE.network, offset, addrLen, 1),
      exprs.meta(META_KEY.l4proto, regAt(addrLen)),
      exprs.hton(regAt(addrLen), 1, 2),
      exprs.payload(PAYLOAD_BASE.transport, 2, 2, regAt(addrLen + 4)),
      exprs.lookup(set, 1, 0, batch.setId(set)),
    ];
  }
  const log = LOG_RULE.exec(text);
  if (log) return [exprs.limitPackets(Number(log[1]), Number(log[2])), exprs.logGroup(Number(log[4]), log[3]!)];
  switch (text) {
    case 'counter':
      return [exprs.counter()];
    case 'counter accept':
      return [exprs.counter(), exprs.verdict({ kind: 'accept' })];
    case 'counter drop':
      return [exprs.counter(), exprs.verdict({ kind: 'drop' })];
  }
  return no(`rule "${text}" has a shape the netlink encoder does not know`);
}

// ---- elements ----

/**
 * The key of a pod's element in the anti-spoofing set (`ifname . ipv4_addr` or `ipv6_addr`), as
 * the kernel stores it: for CNI ADD's read-back of that one element (PolicyDataplane).
 */
export function endpointKey(iface: string, ip: string): Buffer {
  const v6 = !isIPv4(ip);
  return element({ name: 'endpoints', type: ['ifname', v6 ? 'ipv6_addr' : 'ipv4_addr'], flags: [], elements: [] }, { key: `"${iface}" . ${ip}` }, false).key;
}

function element(s: NftSet, e: NftElement, withValue: boolean): Element {
  const fields = e.key.split(' . ');
  if (fields.length !== s.type.length) no(`element "${e.key}" of ${s.name} does not have ${s.type.length} fields`);
  const interval = s.flags.includes('interval');
  if (interval && s.type.length === 1) no(`${s.name} is an interval set of one field (encoded as start and end elements, not supported)`);
  const starts: Buffer[] = [];
  const ends: Buffer[] = [];
  s.type.forEach((type, i) => {
    const [a, b] = field(type, fields[i]!, interval);
    starts.push(pad4(a));
    ends.push(pad4(b));
  });
  const out: Element = { key: Buffer.concat(starts) };
  if (interval) out.keyEnd = Buffer.concat(ends);
  if (withValue && s.map === 'verdict') out.verdict = verdict(e.value ?? no(`element "${e.key}" of map ${s.name} has no value`));
  if (withValue && s.map === 'data') out.data = dataValue(s, e.value ?? no(`element "${e.key}" of map ${s.name} has no value`));
  return out;
}

/** A data map's value (e.g. `10.244.1.2 . 8080` for `ipv4_addr . inet_service`): fields padded to 4 bytes. */
function dataValue(s: NftSet, text: string): Buffer {
  const types = s.dataType ?? no(`map ${s.name} has no data type`);
  const fields = text.split(' . ');
  if (fields.length !== types.length) no(`value "${text}" of ${s.name} does not have ${types.length} fields`);
  return Buffer.concat(types.map((type, i) => pad4(field(type, fields[i]!, false)[0])));
}

const pad4 = (x: Buffer): Buffer => (x.length % 4 ? Buffer.concat([x, Buffer.alloc(4 - (x.length % 4))]) : x);

/** One field's bytes: start and inclusive end (equal unless a range or prefix). */
function field(type: string, text: string, interval: boolean): [Buffer, Buffer] {
  const same = (b: Buffer): [Buffer, Buffer] => [b, b];
  switch (type) {
    case 'integer': {
      // A 32-bit register value (e.g. a `numgen` result) in host byte order, as nft stores it.
      if (!/^\d+$/.test(text) || Number(text) > 0xffffffff) no(`integer ${text}`);
      const b = Buffer.alloc(4);
      if (endianness() === 'LE') b.writeUInt32LE(Number(text));
      else b.writeUInt32BE(Number(text));
      return same(b);
    }
    case 'ifname': {
      const m = /^"([^"\\]{1,15})"$/.exec(text) ?? no(`interface name ${text}`);
      const b = Buffer.alloc(16);
      b.write(m[1]!, 'latin1');
      return same(b);
    }
    case 'inet_proto': {
      const num = (x: string): number => PROTO[x] ?? (/^\d+$/.test(x) ? Number(x) : NaN);
      const [lo, hi] = text.includes('-') && interval ? text.split('-', 2).map(num) : [num(text), num(text)];
      if (!(lo! >= 0 && hi! <= 255 && lo! <= hi!)) no(`protocol ${text}`);
      return [Buffer.from([lo!]), Buffer.from([hi!])];
    }
    case 'inet_service': {
      const m = /^(\d+)(?:-(\d+))?$/.exec(text) ?? no(`port ${text}`);
      const [lo, hi] = [Number(m[1]), Number(m[2] ?? m[1])];
      if (lo > 65535 || hi > 65535 || lo > hi || (!interval && lo !== hi)) no(`port ${text}`);
      const be = (n: number): Buffer => Buffer.from([n >> 8, n & 255]);
      return [be(lo), be(hi)];
    }
    case 'ipv4_addr':
    case 'ipv6_addr': {
      const v6 = type === 'ipv6_addr';
      const r = addressRange(text, v6) ?? no(`address ${text}`);
      if (!interval && !r[0].equals(r[1])) no(`address ${text} in a set without intervals`);
      return r;
    }
  }
  return no(`key type ${type}`);
}

function addressRange(text: string, v6: boolean): [Buffer, Buffer] | undefined {
  const parse = v6 ? parseIPv6 : parseIPv4;
  const dash = text.indexOf('-');
  if (dash >= 0) {
    const [a, b] = [parse(text.slice(0, dash)), parse(text.slice(dash + 1))];
    return a && b && Buffer.compare(a, b) <= 0 ? [a, b] : undefined;
  }
  const slash = text.indexOf('/');
  const a = parse(slash >= 0 ? text.slice(0, slash) : text);
  if (!a) return undefined;
  if (slash < 0) return [a, a];
  const len = Number(text.slice(slash + 1));
  if (!/^\d+$/.test(text.slice(slash + 1)) || len > a.length * 8) return undefined;
  const start = Buffer.from(a);
  const end = Buffer.from(a);
  for (let bit = len; bit < a.length * 8; bit++) {
    const [i, m] = [bit >> 3, 0x80 >> (bit & 7)];
    start[i]! &= ~m;
    end[i]! |= m;
  }
  return [start, end];
}

function parseIPv4(s: string): Buffer | undefined {
  return isIPv4(s) ? Buffer.from(s.split('.').map(Number)) : undefined;
}

/** RFC 4291 text (with `::`, without an embedded IPv4 part) → 16 bytes. */
export function parseIPv6(s: string): Buffer | undefined {
  if (!/^[0-9a-fA-F:]+$/.test(s) || s.split('::').length > 2) return undefined;
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const groups = (x: string | undefined): string[] => (x ? x.split(':') : []);
  const h = groups(head);
  const t = groups(tail);
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const all = [...h, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...t];
  if (all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const b = Buffer.alloc(16);
  all.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function verdict(text: string): Verdict {
  const m = /^(goto|jump) ([^\s"]+)$/.exec(text);
  if (m) return { kind: m[1] as 'goto' | 'jump', chain: m[2]! };
  if (text === 'accept' || text === 'drop' || text === 'continue' || text === 'return') return { kind: text };
  return no(`verdict ${text}`);
}
