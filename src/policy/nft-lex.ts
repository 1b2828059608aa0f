// Lexing for the nft subset the tracer reads: tokens (words, quoted strings, punctuation,
// newlines) and values (numbers, ranges, protocol names, addresses, CIDRs, address ranges).
import { tryParseCidr, tryParseIp, cidrLast, type Family } from '../util/ip.js';

export type Value =
  | { kind: 'str'; s: string }
  | { kind: 'range'; lo: bigint; hi: bigint; family?: Family };

export type Tok = { t: 'w' | 's' | 'p' | 'nl'; v: string; line: number };

export class NftParseError extends Error {}

export function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      out.push({ t: 'nl', v: '\n', line: line++ });
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (c === '#') while (i < text.length && text[i] !== '\n') i++;
    else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) throw new NftParseError(`line ${line}: unterminated string`);
      out.push({ t: 's', v: text.slice(i + 1, end), line });
      i = end + 1;
    } else if ('{};,'.includes(c)) {
      out.push({ t: 'p', v: c, line });
      i++;
    } else {
      let j = i;
      while (j < text.length && !' \t\r\n{};,"'.includes(text[j]!)) j++;
      out.push({ t: 'w', v: text.slice(i, j), line });
      i = j;
    }
  }
  return out;
}

const PROTOS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, sctp: 132, icmpv6: 58 };
export const PRIORITIES: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 };

/** A value as written: "string", number, number range, protocol name, address, CIDR or range. */
export function parseValue(w: Tok): Value {
  if (w.t === 's') return { kind: 'str', s: w.v };
  const v = w.v;
  if (/^\d+$/.test(v)) return { kind: 'range', lo: BigInt(v), hi: BigInt(v) };
  const nr = /^(\d+)-(\d+)$/.exec(v);
  if (nr) return { kind: 'range', lo: BigInt(nr[1]!), hi: BigInt(nr[2]!) };
  if (PROTOS[v] !== undefined) return { kind: 'range', lo: BigInt(PROTOS[v]), hi: BigInt(PROTOS[v]) };
  const ip = tryParseIp(v);
  if (ip) return { kind: 'range', lo: ip.value, hi: ip.value, family: ip.family };
  const cidr = tryParseCidr(v);
  if (cidr) return { kind: 'range', lo: cidr.base, hi: cidrLast(cidr), family: cidr.family };
  // An address range: split at the one '-' that leaves two addresses of one family.
  for (let k = v.indexOf('-'); k > 0; k = v.indexOf('-', k + 1)) {
    const a = tryParseIp(v.slice(0, k));
    const b = tryParseIp(v.slice(k + 1));
    if (a && b && a.family === b.family) return { kind: 'range', lo: a.value, hi: b.value, family: a.family };
  }
  if (/^[a-z][a-z0-9_]*$/.test(v)) return { kind: 'str', s: v }; // ct states, nfproto names
  throw new NftParseError(`line ${w.line}: cannot read value "${v}"`);
}

