// The few DNS messages the lab's cluster DNS needs (RFC 1035): one question in, A / CNAME answers
// or a name error out. Pure; no compression on output (answers repeat the question's name in full).
export const TYPE_A = 1;
export const TYPE_CNAME = 5;
export const TYPE_AAAA = 28;
export const RCODE_OK = 0;
export const RCODE_FORMERR = 1;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;

export interface Question {
  id: number;
  /** Lower case, without the trailing dot. */
  name: string;
  type: number;
  class: number;
  /** The question section's bytes (echoed in the answer). */
  raw: Buffer;
  recursionDesired: boolean;
}

export type Answer = { type: typeof TYPE_A; ip: string } | { type: typeof TYPE_CNAME; target: string };

/** The question of a standard query, or undefined when the message is not one we answer. */
export function parseQuery(msg: Buffer): Question | undefined {
  if (msg.length < 12) return undefined;
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000 || ((flags >> 11) & 0xf) !== 0 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    if (len === 0) break;
    if (len > 63 || off + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', off + 1, off + 1 + len).toLowerCase());
    off += 1 + len;
  }
  off += 1;
  if (off + 4 > msg.length) return undefined;
  return { id: msg.readUInt16BE(0), name: labels.join('.'), type: msg.readUInt16BE(off), class: msg.readUInt16BE(off + 2), raw: msg.subarray(12, off + 4), recursionDesired: (flags & 0x0100) !== 0 };
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

/** A response to `q`: `answers` under the names they belong to (CNAME chains name their target next). */
export function buildResponse(q: Question | { id: number; raw: Buffer; recursionDesired: boolean }, rcode: number, answers: { name: string; answer: Answer }[] = [], ttl = 5): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, authoritative, RD echoed; no recursion available.
  header.writeUInt16BE(0x8000 | 0x0400 | (q.recursionDesired ? 0x0100 : 0) | (rcode & 0xf), 2);
  header.writeUInt16BE(q.raw.length ? 1 : 0, 4);
  header.writeUInt16BE(answers.length, 6);
  const rrs = answers.map(({ name, answer }) => {
    const data = answer.type === TYPE_A ? Buffer.from(answer.ip.split('.').map(Number)) : encodeName(answer.target);
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(answer.type, 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(ttl, 4);
    fixed.writeUInt16BE(data.length, 8);
    return Buffer.concat([encodeName(name), fixed, data]);
  });
  return Buffer.concat([header, q.raw, ...rrs]);
}
