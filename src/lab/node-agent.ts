// A lab node's agent: a real `twill agent` process running inside the node's namespace.
import { join } from 'node:path';
import { agentRequest } from '../cli/client.js';
import { TwillError } from '../util/errors.js';
import { twillBin } from '../util/paths.js';
import { isAlive, readPid, startDetached, stopPid, waitFor } from './processes.js';
import { readFile } from 'node:fs/promises';

export interface NodeAgentSpec {
  nodeName: string;
  netns: string;
  /** The node's lab directory: agent.sock, agent.log, agent.pid, state/, run/. */
  dir: string;
  /** Extra `twill agent` flags (--pod-cidr, --datastore, …). */
  args: string[];
  /** Extra environment for the agent process. */
  env?: Record<string, string>;
  /** Flags for node itself, before the script (--cpu-prof, which NODE_OPTIONS refuses). */
  nodeFlags?: string[];
}

export const agentSocket = (dir: string): string => join(dir, 'agent.sock');

export async function startNodeAgent(spec: NodeAgentSpec, timeoutMs = 15_000): Promise<number> {
  const socket = agentSocket(spec.dir);
  const logFile = join(spec.dir, 'agent.log');
  const pid = await startDetached({
    netns: spec.netns,
    argv: [process.execPath, ...(spec.nodeFlags ?? []), twillBin(), 'agent', '--node-name', spec.nodeName, '--state-dir', join(spec.dir, 'state'), '--run-dir', join(spec.dir, 'run'), '--socket', socket, ...spec.args],
    logFile,
    pidFile: join(spec.dir, 'agent.pid'),
    ...(spec.env ? { env: spec.env } : {}),
  });
  try {
    await waitFor(`agent on ${spec.nodeName}`, async () => {
      await agentRequest(socket, 'GET', '/healthz', undefined, 1000);
      return true;
    }, timeoutMs, 25, () => (isAlive(pid) ? undefined : 'it exited'));
  } catch (e) {
    // why: only decorates the error thrown just below
    const tail = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-15).join('\n');
    throw new TwillError('INTERNAL', `agent on ${spec.nodeName} did not start: ${isAlive(pid) ? 'no answer on ' + socket : 'it exited'}\n--- ${logFile} ---\n${tail}`, { cause: e });
  }
  return pid;
}

export async function stopNodeAgent(dir: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
  const pid = await readPid(join(dir, 'agent.pid'));
  if (pid === undefined) return;
  if (signal === 'SIGKILL') await stopPid(pid, 0, 'SIGKILL');
  else await stopPid(pid, 5000);
}
