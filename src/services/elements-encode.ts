// The bulk maps' elements as nf_tables netlink bytes, written straight into one buffer per message
// (first-load.ts sends 70,000 of them at 10,000 Services). policy/netlink.ts encodes any element
// (ranges, interface names, …) through attribute trees and a buffer per field: ~20 µs an element,
// as slow as `nft` itself here. This writes only the shapes the services compiler makes — keys
// of addresses, protocols, ports and draw numbers; values that are verdicts or address . port —
// and answers undefined for anything else (the caller then uses the general encoder).
// elements-encode.test.ts checks it byte for byte against the general encoder.
import { parseIPv6 } from '../policy/netlink.js';
import type { NftElement, NftSet } from '../policy/model.js';
import { VERDICT } from '../dataplane/kernel/nfnetlink.js';

const NESTED = 0x8000;
const PROTO: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };
let scratch = Buffer.alloc(0);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

class Writer {
  buf: Buffer;
  off = 0;
  constructor(size: number) {
    // One scratch buffer, reused (zeroed for the padding), grown when a message needs more.
    if (scratch.length < size) scratch = Buffer.alloc(size);
    else scratch.fill(0, 0, size);
    this.buf = scratch;
  }
  /** Starts an attribute; returns where its header is (its length is set by `end`). */
  start(type: number): number {
    const at = this.off;
    this.buf.writeUInt16LE(type, at + 2);
    this.off += 4;
    return at;
  }
  end(at: number): void {
    this.buf.writeUInt16LE(this.off - at, at);
    this.off = (this.off + 3) & ~3;
  }
}

/** The number in text[from, to) (at most `max`), or -1 when it is not a plain decimal. */
function decimal(text: string, from: number, to: number, max: number): number {
  if (to <= from || to - from > 10) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n <= max ? n : -1;
}

/**
 * Writes one field, text[from, to), of a key or value at w.off (padded to 4 bytes); false when it
 * is not a shape handled here. Read in place: no substring or buffer per field.
 */
function field(w: Writer, type: string, text: string, from: number, to: number): boolean {
  const b = w.buf;
  switch (type) {
    case 'ipv4_addr': {
      let p = from;
      for (let part = 0; part < 4; part++) {
        const dot = part < 3 ? text.indexOf('.', p) : to;
        if (dot < 0 || dot > to || dot - p > 3) return false;
        const n = decimal(text, p, dot, 255);
        if (n < 0) return false;
        b[w.off + part] = n;
        p = dot + 1;
      }
      w.off += 4;
      return true;
    }
    case 'ipv6_addr': {
      const a = parseIPv6(text.slice(from, to));
      if (!a) return false;
      w.off += a.copy(b, w.off);
      return true;
    }
    case 'inet_proto': {
      const name = to - from <= 4 ? PROTO[text.slice(from, to)] : undefined;
      const p = name ?? decimal(text, from, to, 255);
      if (p < 0) return false;
      b[w.off] = p;
      w.off += 4;
      return true;
    }
    case 'inet_service': {
      const n = decimal(text, from, to, 65535);
      if (n < 0) return false;
      b.writeUInt16BE(n, w.off);
      w.off += 4;
      return true;
    }
    case 'integer': {
      const n = decimal(text, from, to, 0xffffffff);
      if (n < 0) return false;
      if (LITTLE_ENDIAN) b.writeUInt32LE(n, w.off);
      else b.writeUInt32BE(n, w.off);
      w.off += 4;
      return true;
    }
  }
  return false;
}

/** The fields of `text` (`a . b . c`), one per type. */
function fields(w: Writer, types: string[], text: string): boolean {
  let from = 0;
  for (let i = 0; i < types.length; i++) {
    const sep = i < types.length - 1 ? text.indexOf(' . ', from) : text.length;
    if (sep < 0 || !field(w, types[i]!, text, from, sep)) return false;
    from = sep + 3;
  }
  // More fields than types leave a separator in the last one, which no field type reads.
  return true;
}

function verdict(w: Writer, text: string): boolean {
  const sp = text.indexOf(' ');
  const kind = sp < 0 ? text : text.slice(0, sp);
  const chain = sp < 0 ? undefined : text.slice(sp + 1);
  if (chain !== undefined ? kind !== 'goto' && kind !== 'jump' : kind !== 'drop' && kind !== 'accept') return false;
  if (chain !== undefined && (!/^[^\s"]+$/.test(chain) || Buffer.byteLength(chain) > 200)) return false;
  const v = w.start(2 /* NFTA_DATA_VERDICT */ | NESTED);
  const code = w.start(1 /* CODE */);
  w.buf.writeInt32BE(VERDICT[kind as 'goto'], w.off);
  w.off += 4;
  w.end(code);
  if (chain !== undefined) {
    const c = w.start(2 /* CHAIN */);
    w.off += w.buf.write(chain, w.off, 'utf8') + 1;
    w.end(c);
  }
  w.end(v);
  return true;
}

/**
 * The content of one NEWSETELEM message's ELEMENTS attribute (one NFTA_LIST_ELEM per element) for
 * elements of bulk set `s`, or undefined when some element is not of a shape handled here.
 */
export function encodeBulkElements(s: NftSet, els: NftElement[]): Buffer | undefined {
  if (s.flags.length || (s.map === 'data' && !s.dataType)) return undefined;
  // An element takes at most ~270 bytes (an IPv6 draw key, a 200-character chain name).
  const w = new Writer(els.length * 320);
  for (const e of els) {
    const el = w.start(1 /* NFTA_LIST_ELEM */ | NESTED);
    const key = w.start(1 /* KEY */ | NESTED);
    const val = w.start(1 /* NFTA_DATA_VALUE */);
    if (!fields(w, s.type, e.key)) return undefined;
    w.end(val);
    w.end(key);
    if (s.map) {
      if (e.value === undefined) return undefined;
      const data = w.start(2 /* DATA */ | NESTED);
      if (s.map === 'verdict') {
        if (!verdict(w, e.value)) return undefined;
      } else {
        const dv = w.start(1 /* NFTA_DATA_VALUE */);
        if (!fields(w, s.dataType!, e.value)) return undefined;
        w.end(dv);
      }
      w.end(data);
    }
    w.end(el);
  }
  // A copy of the used part: the scratch buffer is written over by the next call.
  return Buffer.from(w.buf.subarray(0, w.off));
}
