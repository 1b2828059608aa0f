// Malformed CNI invocations and what twill-cni must answer. The unit test (malformed.test.ts) runs
// the table through the protocol layer with injected I/O; an end-to-end test can run the same
// rows against the built binary: substitute a real netns for NETNS_PLACEHOLDER (resolveRow), make
// sure nothing listens on ABSENT_AGENT_SOCKET, and compare exit status 1, `code` and `msg`.
import { MAX_STDIN_BYTES } from '../protocol.js';

/** Replaced by the path of an existing network namespace (e.g. /run/netns/NAME) before running. */
export const NETNS_PLACEHOLDER = '$NETNS';
/** Never created by anyone: rows that must reach "no agent" name it as their agentSocket. */
export const ABSENT_AGENT_SOCKET = '/run/twill-test-absent/agent.sock';
/** A netns path that must not exist. */
export const MISSING_NETNS = '/run/netns/twill-test-does-not-exist';

export interface MalformedRow {
  name: string;
  env: Readonly<Record<string, string>>;
  stdin: string;
  /** Expected CNI error code (exit status is always 1). */
  code: number;
  /** A substring the error's `msg` must contain. */
  msg: string;
  /** env holds NETNS_PLACEHOLDER: run it with a real, existing network namespace. */
  needsNetns?: true;
  /** Passes validation: it must find no agent at ABSENT_AGENT_SOCKET. */
  needsAbsentAgent?: true;
}

const CONF = { cniVersion: '1.1.0', name: 'twill', type: 'twill-cni' };
const conf = (extra: Record<string, unknown> = {}): string => JSON.stringify({ ...CONF, ...extra });
const PREV = { cniVersion: '1.1.0', ips: [{ address: '10.244.1.5/32' }] };

const ATTACH = { CNI_CONTAINERID: 'ctr1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
const ADD = { CNI_COMMAND: 'ADD', ...ATTACH, CNI_NETNS: NETNS_PLACEHOLDER };
const CHECK = { ...ADD, CNI_COMMAND: 'CHECK' };
const DEL = { CNI_COMMAND: 'DEL', ...ATTACH, CNI_NETNS: NETNS_PLACEHOLDER };
const GC = { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' };
const STATUS = { CNI_COMMAND: 'STATUS', CNI_PATH: '/opt/cni/bin' };

function without(env: Record<string, string>, ...keys: string[]): Record<string, string> {
  const out = { ...env };
  for (const k of keys) delete out[k];
  return out;
}

const OVERSIZE = `{"cniVersion":"1.1.0","name":"twill","type":"twill-cni","pad":"${'x'.repeat(MAX_STDIN_BYTES)}"}`;

type Row = Omit<MalformedRow, 'needsNetns'>;

const ROWS: Row[] = [
  // --- environment ---
  { name: 'no CNI_COMMAND', env: without(ADD, 'CNI_COMMAND'), stdin: conf(), code: 4, msg: 'CNI_COMMAND is not set' },
  { name: 'unknown CNI_COMMAND', env: { ...ADD, CNI_COMMAND: 'ATTACH' }, stdin: conf(), code: 4, msg: 'CNI_COMMAND is "ATTACH"' },
  { name: 'lower-case command', env: { ...ADD, CNI_COMMAND: 'add' }, stdin: conf(), code: 4, msg: 'CNI_COMMAND' },
  { name: 'ADD without CNI_CONTAINERID', env: without(ADD, 'CNI_CONTAINERID'), stdin: conf(), code: 4, msg: 'CNI_CONTAINERID is required for ADD' },
  { name: 'ADD without CNI_NETNS', env: without(ADD, 'CNI_NETNS'), stdin: conf(), code: 4, msg: 'CNI_NETNS is required for ADD' },
  { name: 'ADD without CNI_IFNAME', env: without(ADD, 'CNI_IFNAME'), stdin: conf(), code: 4, msg: 'CNI_IFNAME is required for ADD' },
  { name: 'ADD with empty CNI_CONTAINERID', env: { ...ADD, CNI_CONTAINERID: '' }, stdin: conf(), code: 4, msg: 'CNI_CONTAINERID is required' },
  { name: 'ADD without any attachment variable', env: without(ADD, 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'), stdin: conf(), code: 4, msg: 'CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME are required' },
  { name: 'CHECK without CNI_CONTAINERID', env: without(CHECK, 'CNI_CONTAINERID'), stdin: conf({ prevResult: PREV }), code: 4, msg: 'CNI_CONTAINERID is required for CHECK' },
  { name: 'CHECK without CNI_NETNS', env: without(CHECK, 'CNI_NETNS'), stdin: conf({ prevResult: PREV }), code: 4, msg: 'CNI_NETNS is required for CHECK' },
  { name: 'CHECK without CNI_IFNAME', env: without(CHECK, 'CNI_IFNAME'), stdin: conf({ prevResult: PREV }), code: 4, msg: 'CNI_IFNAME is required for CHECK' },
  { name: 'DEL without CNI_CONTAINERID', env: without(DEL, 'CNI_CONTAINERID'), stdin: conf(), code: 4, msg: 'CNI_CONTAINERID is required for DEL' },
  { name: 'DEL without CNI_IFNAME', env: without(DEL, 'CNI_IFNAME'), stdin: conf(), code: 4, msg: 'CNI_IFNAME is required for DEL' },
  { name: 'GC without CNI_PATH', env: without(GC, 'CNI_PATH'), stdin: conf({ 'cni.dev/valid-attachments': [] }), code: 4, msg: 'CNI_PATH is required for GC' },
  { name: 'container id starting with "-"', env: { ...ADD, CNI_CONTAINERID: '-ctr' }, stdin: conf(), code: 4, msg: 'CNI_CONTAINERID is "-ctr"' },
  { name: 'container id with "/"', env: { ...DEL, CNI_CONTAINERID: 'ctr/../../etc' }, stdin: conf(), code: 4, msg: 'CNI_CONTAINERID' },
  { name: 'container id with a space', env: { ...ADD, CNI_CONTAINERID: 'ctr 1' }, stdin: conf(), code: 4, msg: 'CNI_CONTAINERID' },
  { name: 'ifname of 16 bytes', env: { ...ADD, CNI_IFNAME: 'eth0123456789abc' }, stdin: conf(), code: 4, msg: 'CNI_IFNAME is "eth0123456789abc" (16 bytes)' },
  { name: 'ifname of 8 two-byte characters', env: { ...ADD, CNI_IFNAME: 'éééééééé' }, stdin: conf(), code: 4, msg: 'CNI_IFNAME' },
  { name: 'ifname ".."', env: { ...ADD, CNI_IFNAME: '..' }, stdin: conf(), code: 4, msg: 'CNI_IFNAME is ".."' },
  { name: 'ifname "."', env: { ...DEL, CNI_IFNAME: '.' }, stdin: conf(), code: 4, msg: 'CNI_IFNAME is "."' },
  { name: 'ifname with "/"', env: { ...ADD, CNI_IFNAME: 'a/b' }, stdin: conf(), code: 4, msg: 'CNI_IFNAME is "a/b"' },
  { name: 'ifname with ":"', env: { ...CHECK, CNI_IFNAME: 'eth0:1' }, stdin: conf({ prevResult: PREV }), code: 4, msg: 'CNI_IFNAME' },
  { name: 'ifname with whitespace', env: { ...ADD, CNI_IFNAME: 'eth 0' }, stdin: conf(), code: 4, msg: 'CNI_IFNAME' },
  { name: 'relative CNI_NETNS', env: { ...ADD, CNI_NETNS: 'run/netns/pod' }, stdin: conf(), code: 4, msg: 'CNI_NETNS is "run/netns/pod", but must be an absolute path' },
  { name: 'malformed CNI_ARGS', env: { ...ADD, CNI_ARGS: 'K8S_POD_NAME' }, stdin: conf(), code: 4, msg: 'CNI_ARGS' },
  { name: 'ADD into a netns that does not exist', env: { ...ADD, CNI_NETNS: MISSING_NETNS }, stdin: conf(), code: 3, msg: `CNI_NETNS ${MISSING_NETNS} does not exist` },
  { name: 'CHECK of a netns that does not exist', env: { ...CHECK, CNI_NETNS: MISSING_NETNS }, stdin: conf({ prevResult: PREV }), code: 3, msg: 'container unknown or does not exist' },
  // --- stdin ---
  { name: 'empty stdin', env: ADD, stdin: '', code: 6, msg: 'stdin is empty' },
  { name: 'whitespace stdin', env: DEL, stdin: ' \n\t', code: 6, msg: 'stdin is empty' },
  { name: 'garbage stdin', env: ADD, stdin: 'cniVersion=1.1.0', code: 6, msg: 'not valid JSON' },
  { name: 'truncated JSON', env: ADD, stdin: conf().slice(0, -5), code: 6, msg: 'not valid JSON' },
  { name: 'JSON list', env: ADD, stdin: '[{"cniVersion":"1.1.0"}]', code: 6, msg: 'must be a JSON object, got a list' },
  { name: 'JSON string', env: STATUS, stdin: '"twill"', code: 6, msg: 'must be a JSON object, got a string' },
  { name: 'JSON null', env: GC, stdin: 'null', code: 6, msg: 'must be a JSON object, got null' },
  { name: 'stdin over 1 MiB', env: ADD, stdin: OVERSIZE, code: 6, msg: 'larger than 1 MiB' },
  { name: 'VERSION with garbage stdin', env: { CNI_COMMAND: 'VERSION' }, stdin: '{cniVersion', code: 6, msg: 'not valid JSON' },
  // --- versions ---
  { name: 'unknown cniVersion', env: ADD, stdin: conf({ cniVersion: '9.9.9' }), code: 1, msg: 'supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0' },
  { name: 'missing cniVersion (0.1.0)', env: ADD, stdin: JSON.stringify({ name: 'twill', type: 'twill-cni' }), code: 1, msg: 'no "cniVersion"' },
  { name: 'empty cniVersion (0.1.0)', env: DEL, stdin: conf({ cniVersion: '' }), code: 1, msg: '0.1.0' },
  { name: 'cniVersion 0.2.0', env: ADD, stdin: conf({ cniVersion: '0.2.0' }), code: 1, msg: 'cniVersion "0.2.0" is not supported' },
  { name: 'cniVersion as a number', env: ADD, stdin: conf({ cniVersion: 1.1 }), code: 7, msg: '"cniVersion"' },
  { name: 'CHECK with 0.3.1', env: CHECK, stdin: conf({ cniVersion: '0.3.1', prevResult: PREV }), code: 1, msg: 'has no CHECK command' },
  { name: 'GC with 1.0.0', env: GC, stdin: conf({ cniVersion: '1.0.0' }), code: 1, msg: 'has no GC command' },
  { name: 'STATUS with 0.4.0', env: STATUS, stdin: conf({ cniVersion: '0.4.0' }), code: 1, msg: 'has no STATUS command' },
  // --- config fields ---
  { name: 'missing name', env: ADD, stdin: JSON.stringify({ cniVersion: '1.1.0', type: 'twill-cni' }), code: 7, msg: 'field "name"' },
  { name: 'name is a number', env: ADD, stdin: conf({ name: 7 }), code: 7, msg: 'field "name"' },
  { name: 'name with "/"', env: DEL, stdin: conf({ name: 'pods/net' }), code: 7, msg: 'field "name"' },
  { name: 'missing type', env: ADD, stdin: JSON.stringify({ cniVersion: '1.1.0', name: 'twill' }), code: 7, msg: 'field "type"' },
  { name: 'type is an object', env: ADD, stdin: conf({ type: {} }), code: 7, msg: 'field "type"' },
  { name: 'relative agentSocket', env: ADD, stdin: conf({ agentSocket: 'agent.sock' }), code: 7, msg: 'field "agentSocket" must be an absolute path' },
  { name: 'agentSocket is a number', env: STATUS, stdin: conf({ agentSocket: 1 }), code: 7, msg: 'field "agentSocket"' },
  { name: 'agentSocket too long', env: ADD, stdin: conf({ agentSocket: `/run/${'s'.repeat(110)}` }), code: 7, msg: 'field "agentSocket"' },
  { name: 'mtu is a string', env: ADD, stdin: conf({ mtu: 'abc' }), code: 7, msg: 'network config field "mtu" must be an integer between 576 and 9000, got "abc"' },
  { name: 'mtu too small', env: ADD, stdin: conf({ mtu: 100 }), code: 7, msg: 'field "mtu"' },
  { name: 'mtu not an integer', env: ADD, stdin: conf({ mtu: 1450.5 }), code: 7, msg: 'field "mtu"' },
  { name: 'ipam of another type', env: ADD, stdin: conf({ ipam: { type: 'host-local', subnet: '10.1.0.0/16' } }), code: 7, msg: 'Twill allocates pod addresses itself' },
  { name: 'ipam is a string', env: ADD, stdin: conf({ ipam: 'twill' }), code: 7, msg: 'field "ipam"' },
  { name: 'prevResult is a list', env: ADD, stdin: conf({ prevResult: [] }), code: 7, msg: 'field "prevResult"' },
  { name: 'prevResult address not a CIDR', env: DEL, stdin: conf({ prevResult: { ips: [{ address: '10.244.1.5' }] } }), code: 7, msg: 'field "prevResult.ips[0].address"' },
  { name: 'prevResult interface index out of range', env: CHECK, stdin: conf({ prevResult: { interfaces: [], ips: [{ address: '10.244.1.5/32', interface: 0 }] } }), code: 7, msg: 'field "prevResult.ips[0].interface"' },
  { name: 'prevResult of an unknown version', env: CHECK, stdin: conf({ prevResult: { cniVersion: '0.2.0' } }), code: 1, msg: 'prevResult.cniVersion' },
  { name: 'CHECK without prevResult', env: CHECK, stdin: conf(), code: 7, msg: '"prevResult" is required for CHECK' },
  { name: 'runtimeConfig is a list', env: ADD, stdin: conf({ runtimeConfig: [] }), code: 7, msg: 'field "runtimeConfig"' },
  { name: 'args is a string', env: ADD, stdin: conf({ args: 'K=V' }), code: 7, msg: 'field "args"' },
  { name: 'capability not a boolean', env: ADD, stdin: conf({ capabilities: { portMappings: 'yes' } }), code: 7, msg: 'field "capabilities.portMappings"' },
  { name: 'dns is a list', env: ADD, stdin: conf({ dns: [] }), code: 7, msg: 'field "dns"' },
  { name: 'dns nameserver not an address', env: ADD, stdin: conf({ dns: { nameservers: ['kube-dns'] } }), code: 7, msg: 'field "dns.nameservers[0]"' },
  { name: 'valid-attachments not a list', env: GC, stdin: conf({ 'cni.dev/valid-attachments': {} }), code: 7, msg: 'field "cni.dev/valid-attachments"' },
  { name: 'valid-attachment without ifname', env: GC, stdin: conf({ 'cni.dev/valid-attachments': [{ containerID: 'ctr1' }] }), code: 7, msg: 'field "cni.dev/valid-attachments[0].ifname"' },
  { name: 'valid-attachment with a bad container id', env: GC, stdin: conf({ 'cni.dev/valid-attachments': [{ containerID: 'ctr1', ifname: 'eth0' }, { containerID: '', ifname: 'eth0' }] }), code: 7, msg: 'field "cni.dev/valid-attachments[1].containerID"' },
  { name: 'valid-attachment is a string', env: GC, stdin: conf({ 'cni.dev/valid-attachments': ['ctr1/eth0'] }), code: 7, msg: 'field "cni.dev/valid-attachments[0]"' },
  // --- well-formed, but nobody listens on the agent socket ---
  { name: 'ADD with no agent', env: ADD, stdin: conf({ agentSocket: ABSENT_AGENT_SOCKET }), code: 11, msg: `cannot reach the twill agent at ${ABSENT_AGENT_SOCKET}`, needsAbsentAgent: true },
  { name: 'CHECK with no agent', env: CHECK, stdin: conf({ agentSocket: ABSENT_AGENT_SOCKET, prevResult: PREV }), code: 11, msg: 'check that `twill agent` runs', needsAbsentAgent: true },
  { name: 'GC with no agent', env: GC, stdin: conf({ agentSocket: ABSENT_AGENT_SOCKET, 'cni.dev/valid-attachments': [] }), code: 11, msg: 'cannot reach the twill agent', needsAbsentAgent: true },
  { name: 'STATUS with no agent', env: STATUS, stdin: conf({ agentSocket: ABSENT_AGENT_SOCKET }), code: 50, msg: 'cannot reach the twill agent', needsAbsentAgent: true },
];

export const MALFORMED: readonly MalformedRow[] = ROWS.map((r) =>
  Object.values(r.env).includes(NETNS_PLACEHOLDER) ? { ...r, needsNetns: true } : r,
);

/** The row's env with NETNS_PLACEHOLDER replaced by `netnsPath`. */
export function resolveEnv(row: MalformedRow, netnsPath: string): Record<string, string> {
  return Object.fromEntries(Object.entries(row.env).map(([k, v]) => [k, v === NETNS_PLACEHOLDER ? netnsPath : v]));
}
