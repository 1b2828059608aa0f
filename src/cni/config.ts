// Twill's network configuration (the JSON a runtime sends on stdin), parsed once into a typed
// NetConf. Pure: the shim validates with it before forwarding, and the agent validates again
// with the same function. Unknown keys are ignored, as the spec requires.
import { TwillError } from '../util/errors.js';
import { DEFAULT_AGENT_SOCKET } from '../dataplane/kernel/names.js';
import { containerIdProblem, ifnameProblem, CNI_NAME_RE } from './env.js';
import {
  fieldError,
  isObject,
  join,
  objectsOf,
  optArray,
  optDns,
  optObject,
  optString,
  type JsonObject,
} from './fields.js';
import type { CniAttachmentRef, CniCommand, CniDns, CniResult, CniVersion } from './types.js';
import { negotiateVersion, parseResult } from './version.js';

export const MTU_MIN = 576;
export const MTU_MAX = 9000;
/** sun_path holds 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;
export const VALID_ATTACHMENTS_KEY = 'cni.dev/valid-attachments';
/** The key libcni also sends, from a spec typo (containernetworking/cni#1101). */
export const LEGACY_ATTACHMENTS_KEY = 'cni.dev/attachments';

export interface IpamConf extends JsonObject {
  type: 'twill';
}

export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  /** Where the agent listens; default /run/twill/agent.sock. */
  agentSocket: string;
  /** Overrides the agent's MTU for this network. */
  mtu?: number;
  ipam?: IpamConf;
  /** A chained plugin's result, converted to the 1.1.0 shape whatever version it came in. */
  prevResult?: CniResult;
  runtimeConfig?: JsonObject;
  args?: JsonObject;
  capabilities?: Record<string, boolean>;
  dns?: CniDns;
  /**
   * GC only: the attachments still in use. Undefined when the runtime sent no list (or null):
   * then nothing may be reclaimed, since "no list" is not "no attachments".
   */
  validAttachments?: CniAttachmentRef[];
}

function parseName(o: JsonObject): string {
  const v = o['name'];
  if (typeof v !== 'string' || !CNI_NAME_RE.test(v)) {
    throw fieldError('name', 'a network name (a letter or digit, then letters, digits, "_", "." or "-")', v);
  }
  return v;
}

function parseType(o: JsonObject): string {
  const v = o['type'];
  if (typeof v !== 'string' || v === '' || v.includes('/')) throw fieldError('type', 'the plugin binary name (a non-empty string without "/")', v);
  return v;
}

function parseAgentSocket(o: JsonObject): string {
  const v = optString(o, 'agentSocket');
  if (v === undefined) return DEFAULT_AGENT_SOCKET;
  if (!v.startsWith('/')) throw fieldError('agentSocket', 'an absolute path', v);
  if (Buffer.byteLength(v) > MAX_SOCKET_PATH_BYTES) {
    throw fieldError('agentSocket', `a path of at most ${MAX_SOCKET_PATH_BYTES} bytes (the unix socket limit)`, v);
  }
  return v;
}

function parseMtu(o: JsonObject): number | undefined {
  const v = o['mtu'];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < MTU_MIN || v > MTU_MAX) {
    throw fieldError('mtu', `an integer between ${MTU_MIN} and ${MTU_MAX}`, v);
  }
  return v;
}

function parseIpam(o: JsonObject): IpamConf | undefined {
  const ipam = optObject(o, 'ipam');
  if (ipam === undefined) return undefined;
  if (ipam['type'] !== 'twill') {
    throw fieldError('ipam.type', '"twill": Twill allocates pod addresses itself, so remove "ipam" or set its type to "twill"', ipam['type']);
  }
  return ipam as IpamConf;
}

function parseCapabilities(o: JsonObject): Record<string, boolean> | undefined {
  const caps = optObject(o, 'capabilities');
  if (caps === undefined) return undefined;
  for (const [k, v] of Object.entries(caps)) {
    if (typeof v !== 'boolean') throw fieldError(join('capabilities', k), 'true or false', v);
  }
  return caps as Record<string, boolean>;
}

function parseAttachments(o: JsonObject): CniAttachmentRef[] | undefined {
  const key = o[VALID_ATTACHMENTS_KEY] == null && o[LEGACY_ATTACHMENTS_KEY] != null ? LEGACY_ATTACHMENTS_KEY : VALID_ATTACHMENTS_KEY;
  const list = optArray(o, key);
  if (list === undefined) return undefined;
  return objectsOf(list, key).map(({ o: a, path }) => {
    const containerID = a['containerID'];
    const ifname = a['ifname'];
    const idProblem = typeof containerID === 'string' ? containerIdProblem(containerID) : 'is not a string';
    if (idProblem !== undefined) throw fieldError(join(path, 'containerID'), `the CNI_CONTAINERID of an attachment (this one ${idProblem})`, containerID);
    const ifProblem = typeof ifname === 'string' ? ifnameProblem(ifname) : 'is not a string';
    if (ifProblem !== undefined) throw fieldError(join(path, 'ifname'), `the CNI_IFNAME of an attachment (this one ${ifProblem})`, ifname);
    return { containerID: containerID as string, ifname: ifname as string };
  });
}

/**
 * Parses and validates a decoded network config for `command`. Throws TwillError:
 * VERSION_INCOMPATIBLE for cniVersion, CONFIG_INVALID naming the field for everything else.
 */
export function parseNetConf(raw: unknown, command?: CniCommand): NetConf {
  if (!isObject(raw)) throw new TwillError('DECODE', 'network config must be a JSON object');
  const cniVersion = negotiateVersion(raw['cniVersion'], command);
  const conf: NetConf = { cniVersion, name: parseName(raw), type: parseType(raw), agentSocket: parseAgentSocket(raw) };
  const mtu = parseMtu(raw);
  const ipam = parseIpam(raw);
  const runtimeConfig = optObject(raw, 'runtimeConfig');
  const args = optObject(raw, 'args');
  const capabilities = parseCapabilities(raw);
  const dns = optDns(raw, 'dns');
  const validAttachments = parseAttachments(raw);
  if (mtu !== undefined) conf.mtu = mtu;
  if (ipam !== undefined) conf.ipam = ipam;
  if (raw['prevResult'] != null) conf.prevResult = parseResult(raw['prevResult'], cniVersion);
  if (runtimeConfig !== undefined) conf.runtimeConfig = runtimeConfig;
  if (args !== undefined) conf.args = args;
  if (capabilities !== undefined) conf.capabilities = capabilities;
  if (dns !== undefined) conf.dns = dns;
  if (validAttachments !== undefined) conf.validAttachments = validAttachments;
  if (command === 'CHECK' && conf.prevResult === undefined) {
    throw new TwillError(
      'CONFIG_INVALID',
      'network config field "prevResult" is required for CHECK: the runtime must pass the result of the ADD being checked',
    );
  }
  return conf;
}
