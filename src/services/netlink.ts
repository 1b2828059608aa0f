// The services table's draw rule as nf_tables expressions, for the netlink batch (policy/netlink.ts
// encodes the rest of a delta). This rule is the reason the services dataplane cannot add a new
// shared chain with `nft -f`: nft 1.0.6 rebuilds a map's `typeof` from the kernel's userdata when
// a later transaction adds a rule that uses the map, evaluates the value's `th dport` as part of
// that rule, and cannot derive a protocol dependency for `th` ("conflicting protocols specified:
// ip vs. th"). A `tcp dport` value would pass, but nft then silently adds `meta l4proto tcp` to
// the rule and UDP Services stop being translated. A full load is not affected (the map is
// declared in the same text). So the agent sends the rule itself, as nft compiles it in a full
// load:
//   meta nfproto == ip; daddr → r1; meta l4proto → next; th dport → next; numgen random mod N →
//   next; lookup r1 in @map → r1 (address, then port); dnat to address r1, port from the next one.
import { META_KEY, PAYLOAD_BASE, expr, exprs, regAt, u32, type Attr, type NftBatch } from '../dataplane/kernel/nfnetlink.js';

/** `dnat ip to ip daddr . meta l4proto . th dport . numgen random mod N map @endpoints_v4` (compile.ts's `draw`). */
export const DRAW_RULE = /^dnat (ip6?) to (ip6?) daddr \. meta l4proto \. th dport \. numgen random mod (\d+) map @([A-Za-z0-9_]+)$/;

const NG_RANDOM = 1;
const NAT_DNAT = 1;
const NAT_RANGE_MAP_IPS_AND_PROTO = 0x3; // NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED

const numgenRandom = (modulus: number, dreg: number): Attr =>
  expr('numgen', [[1 /* DREG */, u32(dreg)], [2 /* MODULUS */, u32(modulus)], [3 /* TYPE */, u32(NG_RANDOM)], [4 /* OFFSET */, u32(0)]]);

const dnat = (v6: boolean, addrReg: number, protoReg: number): Attr =>
  expr('nat', [
    [1 /* TYPE */, u32(NAT_DNAT)],
    [2 /* FAMILY */, u32(v6 ? 10 : 2)],
    [3 /* REG_ADDR_MIN */, u32(addrReg)],
    [4 /* REG_ADDR_MAX */, u32(addrReg)],
    [5 /* REG_PROTO_MIN */, u32(protoReg)],
    [6 /* REG_PROTO_MAX */, u32(protoReg)],
    [7 /* FLAGS */, u32(NAT_RANGE_MAP_IPS_AND_PROTO)],
  ]);

/** The draw rule's expressions, or undefined for any other rule. */
export function encodeDrawRule(text: string, batch: NftBatch): Attr[] | undefined {
  const m = DRAW_RULE.exec(text);
  if (!m || m[1] !== m[2]) return undefined;
  const v6 = m[1] === 'ip6';
  const n = Number(m[3]);
  if (!(n >= 1 && n <= 0xffffffff)) return undefined;
  const addrLen = v6 ? 16 : 4;
  // Key: address . protocol (1 byte, padded to 4) . port (2, padded) . draw (4). Value: address . port.
  return [
    exprs.meta(META_KEY.nfproto, 1),
    exprs.cmpEq(1, Buffer.from([v6 ? 10 : 2])),
    exprs.payload(PAYLOAD_BASE.network, v6 ? 24 : 16, addrLen, 1),
    exprs.meta(META_KEY.l4proto, regAt(addrLen)),
    exprs.payload(PAYLOAD_BASE.transport, 2, 2, regAt(addrLen + 4)),
    numgenRandom(n, regAt(addrLen + 8)),
    exprs.lookup(m[4]!, 1, 1, batch.setId(m[4]!)),
    dnat(v6, 1, regAt(addrLen)),
  ];
}
