// Reading netlink attributes (the writing side lives in nfnetlink.ts). Pure: bytes in, values out.
// Headers are host (little) endian; netfilter's attribute values are big-endian.

export const NLA_TYPE_MASK = 0x3fff;
const align4 = (n: number): number => (n + 3) & ~3;

/** The attributes of one level: type → value (the last one wins; netfilter never repeats one). */
export function parseAttrs(buf: Buffer, start = 0, end = buf.length): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let off = start; off + 4 <= end; ) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > end) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

/**
 * The offset of attribute `type`'s value within [start, end), or -1: reading without a Map or a
 * Buffer per attribute, for decoders on a hot path (conntrack events). The value's length is
 * `attrValueLength(buf, offset)`.
 */
export function findAttr(buf: Buffer, start: number, end: number, type: number): number {
  // Bytes read by index, not with Buffer methods: in V8's optimised code an element load is
  // inlined, a method load on a Buffer is not always (the decoder's innermost loop).
  for (let off = start; off + 4 <= end; ) {
    const len = buf[off]! | (buf[off + 1]! << 8);
    if (len < 4 || off + len > end) return -1;
    if (((buf[off + 2]! | (buf[off + 3]! << 8)) & NLA_TYPE_MASK) === type) return off + 4;
    off += align4(len);
  }
  return -1;
}

export const attrValueLength = (buf: Buffer, valueOffset: number): number => (buf[valueOffset - 4]! | (buf[valueOffset - 3]! << 8)) - 4;

/** A 32-bit big-endian number at `off` (unsigned). */
export const be32At = (buf: Buffer, off: number): number => ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;

/** A 64-bit big-endian number at `off` (exact below 2^53), without a BigInt. */
export const be64At = (buf: Buffer, off: number): number => be32At(buf, off) * 0x1_0000_0000 + be32At(buf, off + 4);

/** One netlink message: its type, flags and payload (after the 16-byte header). */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  payload: Buffer;
}

/** Splits a datagram into its netlink messages. */
export function splitMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  for (let off = 0; off + 16 <= buf.length; ) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > buf.length) break;
    out.push({ type: buf.readUInt16LE(off + 4), flags: buf.readUInt16LE(off + 6), seq: buf.readUInt32LE(off + 8), payload: buf.subarray(off + 16, off + len) });
    off += align4(len);
  }
  return out;
}

export const be16 = (b: Buffer | undefined): number | undefined => (b && b.length >= 2 ? b.readUInt16BE(0) : undefined);
export const be32 = (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readUInt32BE(0) : undefined);
/** A 64-bit big-endian counter as a number (exact below 2^53: packet and byte counts of one connection). */
export const be64 = (b: Buffer | undefined): number | undefined => (b && b.length >= 8 ? Number(b.readBigUInt64BE(0)) : undefined);
export const cstr = (b: Buffer | undefined): string | undefined => {
  if (!b) return undefined;
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
};

/** An IPv4 or IPv6 address in its usual text form (IPv6 compressed, lower case). */
export function ipText(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(i).toString(16));
  // The longest run of two or more zero words becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

/** One netlink attribute: length, type, the value, padded to 4 bytes. */
export function attr(type: number, value: Buffer): Buffer {
  const len = 4 + value.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  value.copy(b, 4);
  return b;
}
