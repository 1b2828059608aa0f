// The twill-cni shim: validate (protocol.ts), forward to the agent over its unix socket, print
// what the agent says. Its start-up time is part of every pod's start-up time, so it imports only
// node builtins and the pure protocol files, speaks HTTP itself on a bare pipe handle (agent-client.ts),
// and loads node:child_process only when a command needs it (VERSION needs neither; node-fs.ts explains fs).
import { describeError, errnoCode, isTwillError, TwillError } from '../util/errors.js';
import { hostVethName, tombstoneDir } from '../dataplane/kernel/names.js';
import { CNI_API_PATH, tombstoneFileName, type CniRequest, type CniResponse, type CniTombstone } from './api.js';
import { isErrorCode } from './errors.js';
import { isObject } from './fields.js';
import { nodeFs, type NodeFs } from './node-fs.js';
import { postUnix } from './agent-client.js';
import { runCni, toCniRequest, type CniIo, type Invocation, type TextSink } from './protocol.js';

export const AGENT_TIMEOUT_MS: Readonly<Record<Invocation['command'], number>> = {
  ADD: 60_000,
  DEL: 60_000,
  CHECK: 60_000,
  GC: 60_000,
  STATUS: 5_000,
};

/** An agent answer larger than this is not a CNI result. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export interface ShimDeps {
  /** POSTs to the agent; rejects with AGENT_UNREACHABLE when it cannot be reached in time. */
  post(socketPath: string, req: CniRequest, timeoutMs: number): Promise<CniResponse>;
  /** Runs a tool (nsenter, ip); rejects with an error carrying its stderr. */
  exec(cmd: string, args: string[]): Promise<void>;
  now(): Date;
  timeoutsMs: Readonly<Record<Invocation['command'], number>>;
}

function unreachable(socketPath: string, why: string, cause?: unknown): TwillError {
  return new TwillError(
    'AGENT_UNREACHABLE',
    `cannot reach the twill agent at ${socketPath} (${why}); check that \`twill agent\` runs on this node`,
    { cause },
  );
}

/** Reads the agent's reply; anything but a well-formed CniResponse is reported as INTERNAL. */
export function parseAgentReply(status: number | undefined, text: string, socketPath: string): CniResponse {
  const bad = (what: string): TwillError =>
    new TwillError('INTERNAL', `the agent at ${socketPath} ${what}; is a twill agent of the same version listening there?`);
  if (status !== 200) throw bad(`answered HTTP ${status ?? '?'} to POST ${CNI_API_PATH}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('answered with something that is not JSON');
  }
  if (!isObject(v) || typeof v['ok'] !== 'boolean') throw bad('answered without an "ok" field');
  if (v['ok']) return v['result'] === undefined ? { ok: true } : { ok: true, result: v['result'] };
  const err = v['error'];
  if (!isObject(err) || !isErrorCode(err['code']) || typeof err['message'] !== 'string') {
    throw bad(`answered with a malformed error ${JSON.stringify(err)}`);
  }
  const out: CniResponse = { ok: false, error: { code: err['code'], message: err['message'] } };
  if (typeof err['details'] === 'string') out.error.details = err['details'];
  return out;
}

/** POST /v1/cni over the agent's unix socket, one connection per request. */
export async function postToAgent(socketPath: string, req: CniRequest, timeoutMs: number): Promise<CniResponse> {
  let reply;
  try {
    reply = await postUnix({ socketPath, path: CNI_API_PATH, body: JSON.stringify(req), timeoutMs, maxBytes: MAX_RESPONSE_BYTES });
  } catch (e) {
    if (isTwillError(e)) throw e;
    const code = errnoCode(e);
    throw unreachable(socketPath, code === 'ETIMEDOUT' ? `no answer within ${timeoutMs / 1000} s` : (code ?? describeError(e)), e);
  }
  return parseAgentReply(reply.status, reply.body, socketPath);
}

/** Runs a tool with a bounded time; the rejection carries the tool's stderr. */
export async function execTool(cmd: string, args: string[]): Promise<void> {
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) => {
    execFile(cmd, args, { timeout: 10_000, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}

const defaultDeps: ShimDeps = { post: postToAgent, exec: execTool, now: () => new Date(), timeoutsMs: AGENT_TIMEOUT_MS };

/** `ip link del` of something already gone is success: DEL is idempotent. */
async function removeLink(deps: ShimDeps, stderr: TextSink, cmd: string, args: string[]): Promise<void> {
  try {
    await deps.exec(cmd, args);
  } catch (e) {
    const text = describeError(e);
    if (/cannot find device|does not exist|no such device/i.test(text)) return;
    stderr.write(`twill-cni: DEL without the agent could not run ${text}; continuing\n`);
  }
}

/** Writes the tombstone atomically (tmp + rename) and returns its path. */
export function writeTombstone(fs: NodeFs, agentSocket: string, t: CniTombstone): string {
  const dir = tombstoneDir(agentSocket);
  const file = `${dir}/${tombstoneFileName(t.containerId, t.ifname)}`;
  const tmp = `${dir}/.${tombstoneFileName(t.containerId, t.ifname)}.tmp-${process.pid}`;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, JSON.stringify(t) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (e) {
    // Without a tombstone the pod's address would leak: fail, so the runtime retries the DEL.
    throw new TwillError('IO', `the twill agent is down and twill-cni could not record this DEL in ${file}; the runtime should retry`, { cause: e });
  }
  return file;
}

/**
 * DEL while the agent is unreachable: remove the pod's interface (if its netns is still there)
 * and the host-side veth, and leave a tombstone so the agent releases the address when it starts.
 */
async function delWithoutAgent(inv: Invocation, io: CniIo, deps: ShimDeps, why: TwillError): Promise<undefined> {
  const containerId = inv.containerId!;
  const ifname = inv.ifname!;
  const netns = inv.netns ?? '';
  if (netns.startsWith('/') && io.netnsExists(netns)) {
    await removeLink(deps, io.stderr, 'nsenter', [`--net=${netns}`, '--', 'ip', 'link', 'del', ifname]);
  }
  await removeLink(deps, io.stderr, 'ip', ['link', 'del', hostVethName(containerId, ifname)]);
  const tomb: CniTombstone = { containerId, ifname, netns, network: inv.conf.name, time: deps.now().toISOString() };
  const file = writeTombstone(await nodeFs(), inv.conf.agentSocket, tomb);
  io.stderr.write(`twill-cni: ${why.message}; DEL removed the interfaces locally and left ${file} for the agent\n`);
  return undefined;
}

/** A result must be in the version the runtime asked for; the agent encodes it (encodeResult). */
function checkResultVersion(inv: Invocation, result: unknown): void {
  if (result === undefined) return;
  const v = isObject(result) ? result['cniVersion'] : undefined;
  if (v !== inv.cniVersion) {
    throw new TwillError(
      'INTERNAL',
      `the agent answered ${inv.command} with a result for cniVersion ${JSON.stringify(v)}, but the runtime asked for "${inv.cniVersion}"; this is a bug in the agent`,
    );
  }
}

async function forward(inv: Invocation, io: CniIo, deps: ShimDeps): Promise<unknown> {
  let res: CniResponse;
  try {
    res = await deps.post(inv.conf.agentSocket, toCniRequest(inv), deps.timeoutsMs[inv.command]);
  } catch (e) {
    if (inv.command === 'DEL' && isTwillError(e, 'AGENT_UNREACHABLE')) return delWithoutAgent(inv, io, deps, e);
    throw e;
  }
  if (res.ok) {
    checkResultVersion(inv, res.result);
    return res.result;
  }
  const { code, message, details } = res.error;
  throw new TwillError(code, message, details === undefined ? {} : { details });
}

/** The whole plugin: returns the process exit status. */
export function runShim(io: CniIo, deps: Partial<ShimDeps> = {}): Promise<number> {
  const all: ShimDeps = { ...defaultDeps, ...deps };
  return runCni(io, (inv) => forward(inv, io, all));
}
