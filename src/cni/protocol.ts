// Everything between a process's environment + stdin and a typed request, in the spirit of
// skel's dispatcher: I/O comes in as plain objects, so all of it is tested with maps and buffers.
// Order of checks: command, required variables, variable values, stdin, config, netns.
import { TwillError } from '../util/errors.js';
import type { CniRequest } from './api.js';
import { parseNetConf, type NetConf } from './config.js';
import { REQUIRED_ENV, CNI_COMMANDS, containerIdProblem, ifnameProblem, isCniCommand, parseCniArgs } from './env.js';
import { toCniError } from './errors.js';
import { fieldError, isObject, type JsonObject } from './fields.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS, type CniCommand, type CniVersion } from './types.js';
import { isSupportedVersion } from './version.js';

/** The most stdin twill-cni reads; a network config is a few hundred bytes. */
export const MAX_STDIN_BYTES = 1024 * 1024;

export type CniEnv = Readonly<Record<string, string | undefined>>;

export interface ProtocolInput {
  env: CniEnv;
  /** stdin as read; a reader should stop after MAX_STDIN_BYTES + 1 bytes. */
  stdin: Uint8Array;
  /** Set when reading stdin failed (CNI code 5). */
  stdinError?: unknown;
  /** Whether a network-namespace path exists (fs.existsSync in the shim). */
  netnsExists(path: string): boolean;
}

export interface TextSink {
  write(s: string): unknown;
}

export interface CniIo extends ProtocolInput {
  stdout: TextSink;
  stderr: TextSink;
}

export interface VersionInvocation {
  command: 'VERSION';
  /** The version to echo: what the runtime sent, else the newest. */
  cniVersion: string;
}

export interface Invocation {
  command: Exclude<CniCommand, 'VERSION'>;
  cniVersion: CniVersion;
  conf: NetConf;
  /** stdin as decoded; forwarded to the agent unchanged. */
  config: JsonObject;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  path?: string;
}

const ABOUT = `twill-cni: the CNI plugin of Twill; it forwards requests to the twill agent. CNI versions: ${SUPPORTED_VERSIONS.join(', ')}\n`;

function readCommand(env: CniEnv): CniCommand {
  const cmd = env['CNI_COMMAND'] ?? '';
  const expected = `expected one of ${CNI_COMMANDS.join(', ')}`;
  if (cmd === '') throw new TwillError('ENV_INVALID', `CNI_COMMAND is not set; ${expected}`);
  if (!isCniCommand(cmd)) throw new TwillError('ENV_INVALID', `CNI_COMMAND is ${JSON.stringify(cmd)}; ${expected}`);
  return cmd;
}

/** Decodes stdin into a JSON object, or throws DECODE saying what is wrong with it. */
export function decodeConfig(stdin: Uint8Array): JsonObject {
  if (stdin.length > MAX_STDIN_BYTES) {
    throw new TwillError('DECODE', `network config on stdin is larger than 1 MiB (${MAX_STDIN_BYTES} bytes), the most twill-cni reads`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(stdin);
  } catch (e) {
    throw new TwillError('DECODE', 'network config on stdin is not valid UTF-8', { cause: e });
  }
  if (text.trim() === '') throw new TwillError('DECODE', 'stdin is empty; the runtime must send the network config as a JSON object');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TwillError('DECODE', `network config on stdin is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isObject(v)) {
    const kind = v === null ? 'null' : Array.isArray(v) ? 'a list' : `a ${typeof v}`;
    throw new TwillError('DECODE', `network config on stdin must be a JSON object, got ${kind}`);
  }
  return v;
}

function readVersionRequest(stdin: Uint8Array): VersionInvocation {
  if (stdin.length <= MAX_STDIN_BYTES && new TextDecoder().decode(stdin).trim() === '') {
    return { command: 'VERSION', cniVersion: CURRENT_VERSION };
  }
  const v = decodeConfig(stdin)['cniVersion'];
  if (v === undefined || v === null || v === '') return { command: 'VERSION', cniVersion: CURRENT_VERSION };
  if (typeof v !== 'string') throw fieldError('cniVersion', 'a version string such as "1.1.0"', v);
  return { command: 'VERSION', cniVersion: v };
}

function checkEnvValues(command: CniCommand, env: CniEnv): void {
  const missing = REQUIRED_ENV[command].filter((k) => !env[k]);
  if (missing.length > 0) {
    const what = missing.length === 1 ? `${missing[0]} is` : `${missing.join(', ')} are`;
    throw new TwillError('ENV_INVALID', `${what} required for ${command} but not set (the container runtime sets CNI_* variables)`);
  }
  if (command !== 'ADD' && command !== 'CHECK' && command !== 'DEL') return;
  const id = env['CNI_CONTAINERID'] ?? '';
  const idProblem = containerIdProblem(id);
  if (idProblem) throw new TwillError('ENV_INVALID', `CNI_CONTAINERID ${idProblem}`);
  const ifProblem = ifnameProblem(env['CNI_IFNAME'] ?? '');
  if (ifProblem) throw new TwillError('ENV_INVALID', `CNI_IFNAME ${ifProblem}`);
  // DEL takes CNI_NETNS as a hint only (DEL must succeed whatever became of the netns).
  const netns = env['CNI_NETNS'];
  if (command !== 'DEL' && netns && !netns.startsWith('/')) {
    throw new TwillError('ENV_INVALID', `CNI_NETNS is ${JSON.stringify(netns)}, but must be an absolute path to a network namespace (e.g. /run/netns/NAME)`);
  }
  if (env['CNI_ARGS']) parseCniArgs(env['CNI_ARGS']);
}

/** Validates env + stdin + network config into a typed invocation; throws TwillError. */
export function parseInvocation(input: ProtocolInput): Invocation | VersionInvocation {
  const { env } = input;
  const command = readCommand(env);
  if (input.stdinError !== undefined) {
    throw new TwillError('IO', 'could not read the network config from stdin', { cause: input.stdinError });
  }
  if (command === 'VERSION') return readVersionRequest(input.stdin);
  checkEnvValues(command, env);
  const config = decodeConfig(input.stdin);
  const conf = parseNetConf(config, command);
  const inv: Invocation = { command, cniVersion: conf.cniVersion, conf, config };
  // GC and STATUS have no attachment: container id, netns and ifname are not theirs to use.
  const attachment = command === 'ADD' || command === 'CHECK' || command === 'DEL';
  if (attachment) {
    inv.containerId = env['CNI_CONTAINERID']!;
    inv.ifname = env['CNI_IFNAME']!;
    if (env['CNI_NETNS']) inv.netns = env['CNI_NETNS'];
    if (env['CNI_ARGS']) inv.args = env['CNI_ARGS'];
  }
  if (env['CNI_PATH']) inv.path = env['CNI_PATH'];
  if ((command === 'ADD' || command === 'CHECK') && !input.netnsExists(inv.netns!)) {
    throw new TwillError('CONTAINER_UNKNOWN', `container unknown or does not exist: CNI_NETNS ${inv.netns} does not exist`);
  }
  return inv;
}

export function versionInfo(cniVersion: string): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** The request the shim sends to the agent. */
export function toCniRequest(inv: Invocation): CniRequest {
  const req: CniRequest = { command: inv.command, config: inv.config };
  for (const k of ['containerId', 'netns', 'ifname', 'args', 'path'] as const) {
    if (inv[k] !== undefined) req[k] = inv[k];
  }
  return req;
}

/** The version to put in an error: the config's, when it is one we speak. */
function errorVersion(stdin: Uint8Array): string {
  try {
    const v = decodeConfig(stdin)['cniVersion'];
    return isSupportedVersion(v) ? v : CURRENT_VERSION;
  } catch {
    // why: stdin is parsed (and refused) by the caller; this only picks the error format version
    return CURRENT_VERSION;
  }
}

/** What a command handler returns: a value to print as JSON on stdout, or nothing. */
export type CniHandler = (inv: Invocation) => Promise<unknown>;

/**
 * The plugin's main: parse, dispatch, print a result or the spec's error JSON on stdout.
 * Returns the exit status (0 success, 1 error).
 */
export async function runCni(io: CniIo, handler: CniHandler): Promise<number> {
  let inv: Invocation | VersionInvocation | undefined;
  try {
    inv = parseInvocation(io);
    if (inv.command === 'VERSION') {
      io.stdout.write(JSON.stringify(versionInfo(inv.cniVersion)) + '\n');
      return 0;
    }
    const out = await handler(inv);
    if (out !== undefined) io.stdout.write(JSON.stringify(out) + '\n');
    return 0;
  } catch (e) {
    const version = inv !== undefined && inv.command !== 'VERSION' ? inv.cniVersion : errorVersion(io.stdin);
    const raw = io.env['CNI_COMMAND'] ?? '';
    const command = inv?.command ?? (isCniCommand(raw) ? raw : undefined);
    io.stdout.write(JSON.stringify(toCniError(e, version, command)) + '\n');
    if (raw === '') io.stderr.write(ABOUT);
    return 1;
  }
}
