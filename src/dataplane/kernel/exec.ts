// Running kernel tools (ip, nft, nsenter). Output is captured; a failure carries the command line
// and the tool's own stderr, which is usually the most precise explanation available.
import { execFile, type ExecFileOptions } from 'node:child_process';
import { TwillError } from '../../util/errors.js';

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends TwillError {
  constructor(
    readonly argv: string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    cause?: unknown,
  ) {
    super('KERNEL', `${argv.join(' ')} failed${exitCode !== null ? ` (exit ${exitCode})` : ''}: ${stderr.trim() || 'no output'}`, { cause });
  }
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const o: ExecFileOptions = { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' };
    if (opts.env) o.env = opts.env;
    if (opts.cwd) o.cwd = opts.cwd;
    const child = execFile(cmd, args, o, (err, stdout, stderr) => {
      const out = String(stdout);
      const errText = String(stderr);
      if (err) {
        const code = typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
        const why = errText || (err as Error).message;
        reject(new CommandError([cmd, ...args], code, why, err));
        return;
      }
      resolve({ stdout: out, stderr: errText });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a command inside the network namespace at `netnsPath` (a bind-mounted netns file). */
export function runInNetns(netnsPath: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('nsenter', [`--net=${netnsPath}`, '--', cmd, ...args], opts);
}
