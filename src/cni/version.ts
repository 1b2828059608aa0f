// CNI version negotiation and result conversion. Twill builds every result in the 1.1.0 shape
// (types.ts) and converts only at the edge: down to what the runtime asked for when encoding,
// and up from whatever version a chained `prevResult` arrives in.
//
// Field history (SPEC.md at the spec-v* tags):
//   0.3.0–0.4.0  ips carry "version": "4"|"6"; interfaces {name, mac, sandbox}; routes {dst, gw}
//   1.0.0        ips lose "version"; otherwise as 0.4.0
//   1.1.0        interfaces gain mtu, socketPath, pciID; routes gain mtu, advmss, priority, table, scope
// (0.3.0's text calls the list "ip"; every implementation, libcni included, reads and writes "ips".)
import { TwillError } from '../util/errors.js';
import { tryParseCidr } from '../util/ip.js';
import {
  fieldError,
  isObject,
  join,
  objectsOf,
  optArray,
  optDns,
  optIp,
  optString,
  optUint,
  reqCidr,
  reqString,
  type JsonObject,
} from './fields.js';
import {
  CURRENT_VERSION,
  SUPPORTED_VERSIONS,
  type CniCommand,
  type CniInterface,
  type CniIpConfig,
  type CniResult,
  type CniRoute,
  type CniVersion,
} from './types.js';

const SUPPORTED_LIST = SUPPORTED_VERSIONS.join(', ');

/** The first spec version that has each command (CHECK: 0.4.0; GC and STATUS: 1.1.0). */
export const MIN_VERSION_FOR: Readonly<Partial<Record<CniCommand, CniVersion>>> = {
  CHECK: '0.4.0',
  GC: '1.1.0',
  STATUS: '1.1.0',
};

export function isSupportedVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Orders dotted numeric versions ("0.4.0" < "1.0.0"); missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * Checks the `cniVersion` of a network config (as decoded, any type) against what twill-cni
 * speaks and what `command` needs. Missing or empty means 0.1.0, as libcni reads it.
 */
export function negotiateVersion(requested: unknown, command?: CniCommand): CniVersion {
  if (requested === undefined || requested === '') {
    throw new TwillError(
      'VERSION_INCOMPATIBLE',
      `network config has no "cniVersion"; CNI reads that as 0.1.0, which twill-cni does not support ` +
        `(supported: ${SUPPORTED_LIST}); set "cniVersion": "${CURRENT_VERSION}"`,
    );
  }
  if (typeof requested !== 'string') throw fieldError('cniVersion', 'a version string such as "1.1.0"', requested);
  if (!isSupportedVersion(requested)) {
    throw new TwillError(
      'VERSION_INCOMPATIBLE',
      `cniVersion "${requested}" is not supported by twill-cni (supported: ${SUPPORTED_LIST})`,
    );
  }
  const min = command === undefined ? undefined : MIN_VERSION_FOR[command];
  if (min !== undefined && compareVersions(requested, min) < 0) {
    throw new TwillError(
      'VERSION_INCOMPATIBLE',
      `cniVersion "${requested}" has no ${command} command (${command} needs ${min} or newer; supported: ${SUPPORTED_LIST})`,
    );
  }
  return requested;
}

interface Shape {
  /** 0.3.x/0.4.0: every ips entry says "4" or "6". */
  ipVersion: boolean;
  /** 1.1.0: mtu/socketPath/pciID on interfaces, mtu/advmss/priority/table/scope on routes. */
  extras: boolean;
}

const SHAPES: Record<CniVersion, Shape> = {
  '0.3.0': { ipVersion: true, extras: false },
  '0.3.1': { ipVersion: true, extras: false },
  '0.4.0': { ipVersion: true, extras: false },
  '1.0.0': { ipVersion: false, extras: false },
  '1.1.0': { ipVersion: false, extras: true },
};

/** Copies the listed keys that are set, in the listed order (stable output for goldens). */
function pick<T extends object>(from: T, keys: readonly (keyof T & string)[]): JsonObject {
  const out: JsonObject = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return out;
}

function encodeIp(ip: CniIpConfig, shape: Shape): JsonObject {
  const out: JsonObject = {};
  if (shape.ipVersion) {
    const c = tryParseCidr(ip.address);
    if (!c) throw new TwillError('INTERNAL', `result has an invalid address "${ip.address}"; this is a bug in the agent`);
    out['version'] = String(c.family);
  }
  return { ...out, ...pick(ip, ['address', 'gateway', 'interface']) };
}

/**
 * Encodes a 1.1.0 result for the version a runtime asked for. Fields the version does not know
 * are dropped; empty lists and an empty `dns` are left out (as libcni does).
 */
export function encodeResult(result: CniResult, version: CniVersion): JsonObject {
  const shape = SHAPES[version];
  const ifaceKeys = shape.extras
    ? (['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID'] as const)
    : (['name', 'mac', 'sandbox'] as const);
  const routeKeys = shape.extras
    ? (['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'] as const)
    : (['dst', 'gw'] as const);
  const out: JsonObject = { cniVersion: version };
  if (result.interfaces?.length) out['interfaces'] = result.interfaces.map((i) => pick(i, ifaceKeys));
  if (result.ips?.length) out['ips'] = result.ips.map((ip) => encodeIp(ip, shape));
  if (result.routes?.length) out['routes'] = result.routes.map((r) => pick(r, routeKeys));
  const dns = result.dns ? pick(result.dns, ['nameservers', 'domain', 'search', 'options']) : {};
  if (Object.keys(dns).length > 0) out['dns'] = dns;
  return out;
}

// Readers take the shape of the result's version: a key that version does not define is
// an unknown key, and unknown keys are ignored (spec), not validated.
function parseInterface(o: JsonObject, path: string, shape: Shape): CniInterface {
  const out: CniInterface = { name: reqString(o, 'name', path) };
  const mac = optString(o, 'mac', path);
  const sandbox = optString(o, 'sandbox', path);
  if (mac !== undefined) out.mac = mac;
  if (sandbox !== undefined) out.sandbox = sandbox;
  if (!shape.extras) return out;
  const mtu = optUint(o, 'mtu', path);
  const socketPath = optString(o, 'socketPath', path);
  const pciID = optString(o, 'pciID', path);
  if (mtu !== undefined) out.mtu = mtu;
  if (socketPath !== undefined) out.socketPath = socketPath;
  if (pciID !== undefined) out.pciID = pciID;
  return out;
}

function parseIpConfig(o: JsonObject, path: string, shape: Shape, interfaceCount: number): CniIpConfig {
  const address = reqCidr(o, 'address', path);
  const version = o['version'];
  if (shape.ipVersion && version != null && version !== String(address.family)) {
    throw fieldError(join(path, 'version'), `"${address.family}" (the family of "${address.text}")`, version);
  }
  const out: CniIpConfig = { address: address.text };
  const gateway = optIp(o, 'gateway', path);
  const iface = optUint(o, 'interface', path);
  if (gateway !== undefined) out.gateway = gateway;
  if (iface !== undefined) {
    if (iface >= interfaceCount) {
      throw fieldError(join(path, 'interface'), `an index into "interfaces" (which has ${interfaceCount} entries)`, iface);
    }
    out.interface = iface;
  }
  return out;
}

function parseRoute(o: JsonObject, path: string, shape: Shape): CniRoute {
  const out: CniRoute = { dst: reqCidr(o, 'dst', path).text };
  const gw = optIp(o, 'gw', path);
  if (gw !== undefined) out.gw = gw;
  if (!shape.extras) return out;
  for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
    const v = optUint(o, k, path);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * Reads a result of any supported version (a chained `prevResult`) into the 1.1.0 shape.
 * Results before 1.0.0 may omit their own cniVersion; then the config's version applies
 * (libcni does the same).
 */
export function parseResult(raw: unknown, configVersion: CniVersion, path = 'prevResult'): CniResult {
  if (!isObject(raw)) throw fieldError(path, 'an object (a CNI result)', raw);
  let version = configVersion;
  const declared = optString(raw, 'cniVersion', path);
  if (declared !== undefined && declared !== '') {
    if (!isSupportedVersion(declared)) {
      throw new TwillError(
        'VERSION_INCOMPATIBLE',
        `network config field "${join(path, 'cniVersion')}" is "${declared}", a result version twill-cni cannot read (supported: ${SUPPORTED_LIST})`,
      );
    }
    version = declared;
  }
  const shape = SHAPES[version];
  const out: CniResult = { cniVersion: CURRENT_VERSION };
  const ifaces = optArray(raw, 'interfaces', path);
  const ips = optArray(raw, 'ips', path);
  const routes = optArray(raw, 'routes', path);
  if (ifaces) out.interfaces = objectsOf(ifaces, join(path, 'interfaces')).map((x) => parseInterface(x.o, x.path, shape));
  const count = out.interfaces?.length ?? 0;
  if (ips) out.ips = objectsOf(ips, join(path, 'ips')).map((x) => parseIpConfig(x.o, x.path, shape, count));
  if (routes) out.routes = objectsOf(routes, join(path, 'routes')).map((x) => parseRoute(x.o, x.path, shape));
  const dns = optDns(raw, 'dns', path);
  if (dns !== undefined) out.dns = dns;
  return out;
}
