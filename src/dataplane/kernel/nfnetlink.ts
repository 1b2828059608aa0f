// nf_tables over netlink: the same atomic transactions `nft -f` makes, sent by the agent itself.
// `nft` reads the table's chains and sets (and, for interval maps, their elements) into a cache
// before every transaction: 10–40 ms on a 1,000-pod table whatever the size of the change. A
// batch from this module is one sendmsg (well under a millisecond) and no cache.
//
// The wire format (include/uapi/linux/netfilter/nf_tables.h): one NFNL_MSG_BATCH_BEGIN, the
// messages, NFNL_MSG_BATCH_END; the kernel applies all of them or none. Every attribute value is
// big-endian. Only what Twill's incremental policy updates use is here: chains, concatenated
// verdict maps, elements, and rules made of the expressions built below. Structural changes of
// any other shape still go through `nft -f` (nft.ts).
//
// This file is the codec (messages to bytes, and the kernel's replies back); the socket that
// sends them is nfnetlink-socket.ts.
import { TwillError } from '../../util/errors.js';

const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
export const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;
export const NFPROTO_INET = 1;

const MSG = { GETTABLE: 1, NEWCHAIN: 3, DELCHAIN: 5, NEWRULE: 6, DELRULE: 8, NEWSET: 9, DELSET: 11, NEWSETELEM: 12, GETSETELEM: 13, DELSETELEM: 14 } as const;

/** Verdict codes (NF_ACCEPT … NFT_GOTO). */
export const VERDICT = { drop: 0, accept: 1, continue: -1, return: -5, jump: -3, goto: -4 } as const;
export type Verdict = { kind: 'drop' | 'accept' | 'continue' | 'return' } | { kind: 'jump' | 'goto'; chain: string };

// ---- attributes ----

/** One netlink attribute: type, then a value (bytes) or nested attributes. */
export type Attr = [type: number, value: Buffer | Attr[]];
const NLA_F_NESTED = 0x8000;

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
};
export const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};
export const be16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
export const str = (s: string): Buffer => Buffer.from(`${s}\0`);

function attrLength(a: Attr): number {
  const [, v] = a;
  const inner = Buffer.isBuffer(v) ? v.length : v.reduce((n, x) => n + align4(attrLength(x)), 0);
  return 4 + inner;
}
const align4 = (n: number): number => (n + 3) & ~3;

/** Writes `a` at `off` (the buffer is zeroed, so padding is) and returns the aligned end. */
function writeAttr(buf: Buffer, off: number, a: Attr): number {
  const [type, v] = a;
  let p = off + 4;
  if (Buffer.isBuffer(v)) p += v.copy(buf, p);
  else for (const x of v) p = writeAttr(buf, p, x);
  // A nested attribute's length is known once its children are written (it includes their padding).
  buf.writeUInt16LE(p - off, off);
  buf.writeUInt16LE(Buffer.isBuffer(v) ? type : type | NLA_F_NESTED, off + 2);
  return align4(p);
}

// ---- messages ----

interface Message {
  type: number;
  flags: number;
  family: number;
  attrs: Attr[];
  /** What a person reads when the kernel refuses this message. */
  what: string;
}

const nft = (msg: number): number => (NFNL_SUBSYS_NFTABLES << 8) | msg;
const verdictAttr = (v: Verdict): Attr => [2 /* NFTA_DATA_VERDICT */, [[1 /* CODE */, u32(VERDICT[v.kind])], ...('chain' in v ? [[2 /* CHAIN */, str(v.chain)] as Attr] : [])]];

/** A chain/set/element comment in nftables' user-data format (what `nft list` prints). */
const commentUdata = (type: number, comment: string): Buffer => {
  const s = str(comment);
  if (s.length > 255) throw new TwillError('INTERNAL', `a comment of ${s.length - 1} bytes does not fit nftables' user data (at most 254)`);
  return Buffer.concat([Buffer.from([type, s.length]), s]);
};

/** One element: key (and, in interval maps of concatenations, the inclusive end), verdict. */
export interface Element {
  key: Buffer;
  keyEnd?: Buffer;
  verdict?: Verdict;
  /** The value of an element of a data map (fields padded to 4 bytes, as nft lays them out). */
  data?: Buffer;
}

/** A concatenated verdict map with the interval flag, e.g. ipv4_addr . inet_proto . inet_service. */
export interface ConcatIntervalMap {
  name: string;
  /** nftables datatype ids of the fields, e.g. [7, 12, 13]. */
  types: number[];
  /** Field lengths in bytes, e.g. [4, 1, 2]. */
  lengths: number[];
}

/** The transaction under construction: add messages in order, then `commit` it on a socket. */
export class NftBatch {
  readonly messages: Message[] = [];
  private setIds = new Map<string, number>();

  constructor(
    readonly family: number,
    readonly table: string,
  ) {}

  /** The batch-local id of a set this batch creates (lookups and elements refer to it). */
  setId(name: string): number | undefined {
    return this.setIds.get(name);
  }

  get size(): number {
    return this.messages.length;
  }

  private push(msg: number, flags: number, attrs: Attr[], what: string): void {
    this.messages.push({ type: nft(msg), flags: NLM_F_REQUEST | flags, family: this.family, attrs: [[1, str(this.table)], ...attrs], what });
  }

  addChain(name: string, opts: { comment?: string } = {}, what = `add chain ${name}`): void {
    const attrs: Attr[] = [[3 /* NFTA_CHAIN_NAME */, str(name)]];
    if (opts.comment !== undefined) attrs.push([12 /* NFTA_CHAIN_USERDATA */, commentUdata(0, opts.comment)]);
    this.push(MSG.NEWCHAIN, NLM_F_CREATE, attrs, what);
  }

  deleteChain(name: string, what = `delete chain ${name}`): void {
    this.push(MSG.DELCHAIN, 0, [[3, str(name)]], what);
  }

  /** Removes every rule of the chain (`flush chain`). */
  flushChain(name: string, what = `flush chain ${name}`): void {
    this.push(MSG.DELRULE, 0, [[2 /* NFTA_RULE_CHAIN */, str(name)]], what);
  }

  addRule(chain: string, exprs: Attr[], what = `add rule ${chain}`): void {
    this.push(MSG.NEWRULE, NLM_F_CREATE | NLM_F_APPEND, [[2, str(chain)], [4 /* NFTA_RULE_EXPRESSIONS */, exprs]], what);
  }

  addConcatIntervalMap(m: ConcatIntervalMap, what = `add map ${m.name}`): void {
    const id = this.setIds.size + 1;
    this.setIds.set(m.name, id);
    const keyType = m.types.reduce((acc, t) => (acc << 6) | t, 0);
    const keyLen = m.lengths.reduce((n, l) => n + align4(l), 0);
    // User data, as nft writes it and `nft list` reads it back: key and data byte order (0: mixed),
    // the key's description (a concatenation expression, EXPR_CONCAT = 13, with no typeof data),
    // the data not an interval.
    const udata = Buffer.from([0, 4, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0, 3, 8, 0, 4, 13, 0, 0, 0, 1, 0, 6, 4, 0, 0, 0, 0]);
    this.push(
      MSG.NEWSET,
      NLM_F_CREATE,
      [
        [2 /* NAME */, str(m.name)],
        [3 /* FLAGS */, u32(0x80 /* CONCAT */ | 0x08 /* MAP */ | 0x04 /* INTERVAL */)],
        [4 /* KEY_TYPE */, u32(keyType)],
        [5 /* KEY_LEN */, u32(keyLen)],
        [6 /* DATA_TYPE */, u32(0xffffff00 /* NFT_DATA_VERDICT */)],
        [7 /* DATA_LEN */, u32(0)],
        [10 /* ID */, u32(id)],
        [9 /* DESC */, [[2 /* DESC_CONCAT */, m.lengths.map((l) => [1, [[1 /* FIELD_LEN */, u32(l)]]] as Attr)]]],
        [13 /* USERDATA */, udata],
      ],
      what,
    );
  }

  deleteSet(name: string, what = `delete map ${name}`): void {
    this.push(MSG.DELSET, 0, [[2, str(name)]], what);
  }

  private elementList(set: string, els: Element[], withData: boolean): Attr[] {
    const list: Attr[] = els.map((e) => {
      const a: Attr[] = [[1 /* KEY */, [[1 /* NFTA_DATA_VALUE */, e.key]]]];
      if (e.keyEnd) a.push([10 /* KEY_END */, [[1, e.keyEnd]]]);
      if (withData && e.verdict) a.push([2 /* DATA */, [verdictAttr(e.verdict)]]);
      if (withData && e.data) a.push([2 /* DATA */, [[1 /* NFTA_DATA_VALUE */, e.data]]]);
      return [1 /* NFTA_LIST_ELEM */, a];
    });
    const id = this.setIds.get(set);
    return [[2 /* SET */, str(set)], ...(id ? [[4 /* SET_ID */, u32(id)] as Attr] : []), [3 /* ELEMENTS */, list]];
  }

  addElements(set: string, els: Element[], what = `add element ${set}`): void {
    if (els.length) this.push(MSG.NEWSETELEM, NLM_F_CREATE, this.elementList(set, els, true), what);
  }

  /** Elements encoded by their owner (services/elements-encode.ts): `list` is the ELEMENTS attribute's content. */
  addEncodedElements(set: string, list: Buffer, what = `add element ${set}`): void {
    const id = this.setIds.get(set);
    this.push(MSG.NEWSETELEM, NLM_F_CREATE, [[2 /* SET */, str(set)], ...(id ? [[4 /* SET_ID */, u32(id)] as Attr] : []), [3 /* ELEMENTS */ | NLA_F_NESTED, list]], what);
  }

  deleteElements(set: string, els: Element[], what = `delete element ${set}`): void {
    if (els.length) this.push(MSG.DELSETELEM, 0, this.elementList(set, els, false), what);
  }

  /** The batch as one buffer, sequence numbers from `seq`; the last message asks for an ack. */
  encode(seq: number): { buf: Buffer; first: number; last: number } {
    const frames: { type: number; flags: number; family: number; resId: number; attrs: Attr[] }[] = [
      { type: NFNL_MSG_BATCH_BEGIN, flags: NLM_F_REQUEST, family: 0, resId: NFNL_SUBSYS_NFTABLES, attrs: [] },
      ...this.messages.map((m, i) => ({ ...m, flags: i === this.messages.length - 1 ? m.flags | NLM_F_ACK : m.flags, resId: 0 })),
      { type: NFNL_MSG_BATCH_END, flags: NLM_F_REQUEST, family: 0, resId: NFNL_SUBSYS_NFTABLES, attrs: [] },
    ];
    const lens = frames.map((f) => 20 + f.attrs.reduce((n, a) => n + align4(attrLength(a)), 0));
    const buf = Buffer.alloc(lens.reduce((a, b) => a + b, 0));
    let off = 0;
    frames.forEach((f, i) => {
      buf.writeUInt32LE(lens[i]!, off);
      buf.writeUInt16LE(f.type, off + 4);
      buf.writeUInt16LE(f.flags, off + 6);
      buf.writeUInt32LE(seq + i, off + 8);
      buf.writeUInt32LE(0, off + 12);
      buf.writeUInt8(f.family, off + 16);
      buf.writeUInt8(0, off + 17); // NFNETLINK_V0
      buf.writeUInt16BE(f.resId, off + 18);
      let p = off + 20;
      for (const a of f.attrs) p = writeAttr(buf, p, a);
      off += lens[i]!;
    });
    return { buf, first: seq, last: seq + frames.length - 1 };
  }
}

// ---- expressions (the subset Twill's policy rules use) ----

/** One expression of a rule: its name and its attributes (other encoders add their own kinds). */
export const expr = (name: string, data: Attr[]): Attr => [1 /* NFTA_LIST_ELEM */, [[1 /* NAME */, str(name)], [2 /* DATA */, data]]];
export const META_KEY = { nfproto: 15, l4proto: 16 } as const;
export const PAYLOAD_BASE = { network: 1, transport: 2 } as const;

/**
 * The register for data at byte `offset` of the concatenation: a 16-byte register when aligned
 * to one (1–4), else a 32-bit register (8–23), as nft numbers them.
 */
export const regAt = (offset: number): number => (offset % 16 === 0 ? 1 + offset / 16 : 8 + offset / 4);

export const exprs = {
  meta: (key: number, dreg: number): Attr => expr('meta', [[2 /* KEY */, u32(key)], [1 /* DREG */, u32(dreg)]]),
  cmpEq: (sreg: number, data: Buffer): Attr => expr('cmp', [[1 /* SREG */, u32(sreg)], [2 /* OP */, u32(0 /* EQ */)], [3 /* DATA */, [[1, data]]]]),
  payload: (base: number, offset: number, len: number, dreg: number): Attr =>
    expr('payload', [[1 /* DREG */, u32(dreg)], [2 /* BASE */, u32(base)], [3 /* OFFSET */, u32(offset)], [4 /* LEN */, u32(len)]]),
  hton: (reg: number, len: number, size: number): Attr =>
    expr('byteorder', [[1 /* SREG */, u32(reg)], [2 /* DREG */, u32(reg)], [3 /* OP */, u32(1 /* HTON */)], [4 /* LEN */, u32(len)], [5 /* SIZE */, u32(size)]]),
  lookup: (set: string, sreg: number, dreg: number, setId?: number): Attr =>
    expr('lookup', [[2 /* SREG */, u32(sreg)], [3 /* DREG */, u32(dreg)], [1 /* SET */, str(set)], ...(setId ? [[4 /* SET_ID */, u32(setId)] as Attr] : [])]),
  counter: (): Attr => expr('counter', []),
  /** `limit rate N/second burst B packets`: stops the rule when the bucket is empty. */
  limitPackets: (perSecond: number, burst: number): Attr =>
    expr('limit', [[1 /* RATE */, u64(perSecond)], [2 /* UNIT */, u64(1)], [3 /* BURST */, u32(burst)], [4 /* TYPE: packets */, u32(0)], [5 /* FLAGS */, u32(0)]]),
  /** `log prefix "…" group N`: the packet goes to the NFLOG group. */
  logGroup: (group: number, prefix: string): Attr => expr('log', [[1 /* GROUP */, be16(group)], [2 /* PREFIX */, str(prefix)]]),
  verdict: (v: Verdict): Attr => expr('immediate', [[1 /* DREG */, u32(0)], [2 /* DATA */, [verdictAttr(v)]]]),
};

// ---- a single request, and the kernel's replies ----

/** One NFT_MSG_GETSETELEM for the element `key` of `set`, asking for an ack after the element. */
export function encodeGetElement(seq: number, family: number, table: string, set: string, key: Buffer): Buffer {
  return encodeGet(seq, family, MSG.GETSETELEM, [[1 /* TABLE */, str(table)], [2 /* SET */, str(set)], [3 /* ELEMENTS */, [[1 /* NFTA_LIST_ELEM */, [[1 /* KEY */, [[1 /* NFTA_DATA_VALUE */, key]]]]]]]]);
}

/** One NFT_MSG_GETTABLE for `table` (answered by the table, then an ack; ENOENT when there is none). */
export function encodeGetTable(seq: number, family: number, table: string): Buffer {
  return encodeGet(seq, family, MSG.GETTABLE, [[1 /* NFTA_TABLE_NAME */, str(table)]]);
}

function encodeGet(seq: number, family: number, msg: number, attrs: Attr[]): Buffer {
  const len = 20 + attrs.reduce((n, a) => n + align4(attrLength(a)), 0);
  const buf = Buffer.alloc(len);
  buf.writeUInt32LE(len, 0);
  buf.writeUInt16LE(nft(msg), 4);
  buf.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
  buf.writeUInt32LE(seq, 8);
  buf.writeUInt8(family, 16);
  let p = 20;
  for (const a of attrs) p = writeAttr(buf, p, a);
  return buf;
}

/** Every message of a reply: its type and sequence number, and for NLMSG_ERROR the error (0: ack). */
export function parseReplies(buf: Buffer): { seq: number; type: number; error: number }[] {
  const out: { seq: number; type: number; error: number }[] = [];
  for (let off = 0; off + 16 <= buf.length; ) {
    const len = buf.readUInt32LE(off);
    if (len < 16) break;
    const type = buf.readUInt16LE(off + 4);
    if (type === NLMSG_ERROR && len >= 20) out.push({ seq: buf.readUInt32LE(off + 8), type, error: buf.readInt32LE(off + 16) });
    else if (type !== NLMSG_ERROR) out.push({ seq: buf.readUInt32LE(off + 8), type, error: 0 });
    off += align4(len);
  }
  return out;
}
