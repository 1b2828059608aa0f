// Input checks for compile. A broken self or config is the operator's to fix and stops compile
// (TwillError CONFIG_INVALID); a broken peer is someone else's and only costs that peer its routes.
import { TwillError } from '../../util/errors.js';
import { cidrContains, formatCidr, normalizeIp, parseIp, tryParseCidr, tryParseIp, type Cidr } from '../../util/ip.js';
import { isBackendName } from './registry.js';
import type { PeerNode, RoutingConfig, SelfNode, ValidPeer } from './types.js';
import { VXLAN_OVERHEAD_V4 } from './vxlan/vtep.js';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** Smallest pod MTU we accept: below IPv6's minimum, things break in confusing ways. */
const MIN_POD_MTU = 1280;

function invalid(field: string, message: string): TwillError {
  return new TwillError('CONFIG_INVALID', `routing: ${field} ${message}`);
}

export function isUnicastMac(mac: string): boolean {
  return MAC_RE.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 0 && mac !== '00:00:00:00:00:00';
}

export interface CheckedSelf extends SelfNode {
  underlay: Cidr;
  /** Own blocks, normalised, in the order given. */
  ownBlocks: Cidr[];
}

export function checkSelf(self: SelfNode): CheckedSelf {
  if (!self.name) throw invalid('self.name', 'is empty; set the node name');
  const ip = tryParseIp(self.underlayIP);
  if (ip?.family !== 4) throw invalid('self.underlayIP', `"${self.underlayIP}" is not an IPv4 address (IPv6 underlays are not supported yet)`);
  const underlay = tryParseCidr(self.underlayCIDR);
  if (!underlay || !cidrContains(underlay, ip)) {
    throw invalid('self.underlayCIDR', `"${self.underlayCIDR}" is not a CIDR containing the underlay address ${self.underlayIP}`);
  }
  if (!/^[^\s/]{1,15}$/.test(self.underlayIface)) throw invalid('self.underlayIface', `"${self.underlayIface}" is not an interface name`);
  if (!Number.isInteger(self.underlayMTU) || self.underlayMTU - VXLAN_OVERHEAD_V4 < MIN_POD_MTU || self.underlayMTU > 65535) {
    throw invalid('self.underlayMTU', `${self.underlayMTU} is out of range (${MIN_POD_MTU + VXLAN_OVERHEAD_V4}..65535)`);
  }
  if (self.vtepMAC !== undefined && !isUnicastMac(self.vtepMAC)) {
    throw invalid('self.vtepMAC', `"${self.vtepMAC}" is not a lower-case unicast MAC; leave it unset to derive one`);
  }
  const ownBlocks = self.blocks.map((b) => {
    const c = tryParseCidr(b);
    if (!c) throw invalid('self.blocks', `contains "${b}", which is not a CIDR`);
    return { family: c.family, base: c.base, prefix: c.prefix };
  });
  return { ...self, underlayIP: normalizeIp(self.underlayIP), underlay, ownBlocks };
}

export function checkConfig(config: RoutingConfig): void {
  if (!isBackendName(config.backend)) throw invalid('config.backend', `"${String(config.backend)}" is unknown (use vxlan or host-gw)`);
  const { vni, port } = config.vxlan;
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) throw invalid('config.vxlan.vni', `${vni} is out of range (1..16777215)`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('config.vxlan.port', `${port} is out of range (1..65535)`);
}

/** A peer's VTEP, if it runs VXLAN and advertised a usable one; otherwise why not. */
function peerVtep(p: PeerNode): Pick<ValidPeer, 'vtep' | 'vtepIssue'> {
  if (p.backend !== 'vxlan') return { vtep: undefined, vtepIssue: `it runs backend ${p.backend}` };
  const mac = p.vtepMAC?.toLowerCase();
  if (mac === undefined || !isUnicastMac(mac)) return { vtep: undefined, vtepIssue: `vtepMAC "${p.vtepMAC ?? ''}" is not a unicast MAC` };
  if (p.vtepIP === undefined || tryParseIp(p.vtepIP)?.family !== 4) return { vtep: undefined, vtepIssue: `vtepIP "${p.vtepIP ?? ''}" is not an IPv4 address` };
  return { vtep: { ip: normalizeIp(p.vtepIP), mac } };
}

export interface PeerCheck {
  peer?: ValidPeer;
  /** The peer's blocks as parsed (conflict checks need them), excluding unusable ones. */
  cidrs: Cidr[];
  errors: string[];
}

/** Validates one peer's addresses and blocks; block conflicts are checked later, by compile. */
export function checkPeer(self: CheckedSelf, p: PeerNode): PeerCheck {
  const ip = tryParseIp(p.underlayIP);
  if (ip?.family !== 4) {
    return { cidrs: [], errors: [`advertises underlay address "${p.underlayIP}", which is not an IPv4 address; skipped`] };
  }
  if (normalizeIp(p.underlayIP) === self.underlayIP) {
    return { cidrs: [], errors: [`advertises this node's own underlay address ${self.underlayIP}; skipped`] };
  }
  const errors: string[] = [];
  const cidrs: Cidr[] = [];
  for (const b of p.blocks) {
    const c = tryParseCidr(b);
    if (!c) errors.push(`block "${b}" is not a CIDR; skipped`);
    else if (c.family !== 4) errors.push(`block ${formatCidr(c)} is IPv6; cross-node IPv6 routing is not supported yet`);
    else cidrs.push({ family: c.family, base: c.base, prefix: c.prefix });
  }
  const peer: ValidPeer = {
    name: p.name,
    underlayIP: normalizeIp(p.underlayIP),
    backend: p.backend,
    ...peerVtep(p),
    blocks: [],
    sameSegment: cidrContains(self.underlay, parseIp(p.underlayIP)),
  };
  return { peer, cidrs, errors };
}
