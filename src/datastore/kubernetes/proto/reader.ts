// A reader of protobuf's wire format, just enough for the kube-apiserver's answers (proto/lists.ts):
// varints, length-delimited fields (strings, bytes, nested messages, packed nothing), and skipping
// of every field a decoder does not ask for by its wire type, which for a length-delimited field is
// one jump over its length prefix (managedFields and annotations are never looked at).
import { TwillError } from '../../../util/errors.js';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** A malformed message: what the caller reports as a DECODE error. */
export class ProtoError extends TwillError {
  constructor(message: string) {
    super('DECODE', `protobuf: ${message}`);
  }
}

export class ProtoReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  /** The next field's key (field number << 3 | wire type); 0 at the end of `limit`. */
  key(limit: number): number {
    if (this.pos >= limit) return 0;
    const k = this.varint();
    if (k >>> 3 === 0) throw new ProtoError(`field number 0 at byte ${this.pos}`);
    return k;
  }

  /**
   * An unsigned varint as a number. Values past 2^53 lose precision (no field read here gets
   * near: lengths, ports, int32s, booleans); a negative int32 (ten bytes) comes out as 2^64 − n
   * and is brought back by int32().
   */
  varint(): number {
    const b = this.buf;
    let p = this.pos;
    let x = b[p++]!;
    if (x < 0x80) {
      this.pos = p;
      return x;
    }
    x &= 0x7f;
    let shift = 7;
    let mul = 128;
    for (;;) {
      if (p >= this.end) throw new ProtoError('a varint runs past the end of the message');
      const c = b[p++]!;
      x += shift < 28 ? (c & 0x7f) << shift : (c & 0x7f) * mul;
      if (c < 0x80) break;
      shift += 7;
      mul *= 128;
      if (shift > 63) throw new ProtoError('a varint longer than ten bytes');
    }
    this.pos = p;
    return x;
  }

  int32(): number {
    const start = this.pos;
    const v = this.varint();
    if (v < 0x80000000) return v;
    // Ten bytes: a negative int32 sign-extended to 64 bits; its low 32 bits are the value.
    let low = 0;
    for (let i = 0, p = start; i < 5; i++, p++) low += (this.buf[p]! & 0x7f) * 2 ** (7 * i);
    return (low % 2 ** 32) | 0;
  }

  bool(): boolean {
    return this.varint() !== 0;
  }

  /** A length prefix, checked against `limit`: returns where the field's bytes end. */
  len(limit = this.end): number {
    const n = this.varint();
    const to = this.pos + n;
    if (to > limit) throw new ProtoError(`a field of ${n} bytes runs past its message (byte ${this.pos})`);
    return to;
  }

  string(): string {
    const to = this.len();
    const s = this.buf.toString('utf8', this.pos, to);
    this.pos = to;
    return s;
  }

  bytes(): Buffer {
    const to = this.len();
    const b = this.buf.subarray(this.pos, to);
    this.pos = to;
    return b;
  }

  /** Skips the value of a field whose key was just read. */
  skip(key: number): void {
    switch (key & 7) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.pos += 8;
        break;
      case WIRE_LEN:
        this.pos = this.len();
        return;
      case WIRE_FIXED32:
        this.pos += 4;
        break;
      default:
        throw new ProtoError(`wire type ${key & 7} (field ${key >>> 3}) is not one this reader knows`);
    }
    if (this.pos > this.end) throw new ProtoError('a fixed-size field runs past the end of the message');
  }

  /** A map<string, string> entry (key 1, value 2) whose length prefix is next. */
  mapEntry(): [string, string] {
    const to = this.len();
    let k = '';
    let v = '';
    for (let t = this.key(to); t !== 0; t = this.key(to)) {
      if (t === ((1 << 3) | WIRE_LEN)) k = this.string();
      else if (t === ((2 << 3) | WIRE_LEN)) v = this.string();
      else this.skip(t);
    }
    this.pos = to;
    return [k, v];
  }
}

/** A field's key with a wire type: tag(3, WIRE_LEN). */
export const tag = (field: number, wire: number): number => (field << 3) | wire;
