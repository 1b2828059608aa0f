// Running short commands from the agent without forking the agent. Forking a process the size of
// the agent costs ~10–20 ms of page-table copying (measured: `ip -batch` 20 ms p50 from a 60 MB
// Node process, 7 ms through a resident shell, on this 2-core machine under load); pod ADD runs
// one `ip -batch` per pod, so the agent keeps a few small resident /bin/sh processes and hands
// them commands instead. A shell that dies is replaced; its pending commands fail with its error.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { TwillError } from '../../util/errors.js';

/** A command run through the pool failed: its exit status and its output (stdout and stderr). */
export class ShellCommandError extends TwillError {
  constructor(
    readonly argv: string[],
    readonly exitCode: number,
    readonly output: string,
  ) {
    super('KERNEL', `${argv.join(' ')} failed (exit ${exitCode}): ${output.trim() || 'no output'}`);
  }
}

interface Pending {
  id: string;
  resolve: (out: string) => void;
  reject: (e: Error) => void;
  argv: string[];
  output: string[];
}

class ResidentShell {
  private proc: ChildProcessWithoutNullStreams | undefined;
  private buf = '';
  private readonly queue: Pending[] = [];

  get load(): number {
    return this.queue.length;
  }

  private start(): ChildProcessWithoutNullStreams {
    const p = spawn('/bin/sh', [], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } });
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (c: string) => this.onData(c));
    p.stderr.resume();
    const fail = (why: string) => {
      if (this.proc !== p) return;
      this.proc = undefined;
      for (const q of this.queue.splice(0)) q.reject(new TwillError('KERNEL', `${q.argv.join(' ')}: the helper shell ${why}`));
    };
    p.on('exit', (code, sig) => fail(`exited (${sig ?? code})`));
    p.on('error', (e) => fail(`failed: ${e.message}`));
    p.stdin.on('error', () => undefined);
    this.hold(p, false);
    return p;
  }

  /** An idle shell must not keep the process alive; a busy one must. */
  private hold(p: ChildProcessWithoutNullStreams, busy: boolean): void {
    for (const h of [p, p.stdout, p.stderr, p.stdin] as unknown as { ref?: () => void; unref?: () => void }[]) {
      if (busy) h.ref?.();
      else h.unref?.();
    }
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const head = this.queue[0];
      if (!head) continue;
      const m = /^@@twill (\S+) (\d+)$/.exec(line);
      if (m && m[1] === head.id) {
        this.queue.shift();
        if (this.queue.length === 0 && this.proc) this.hold(this.proc, false);
        // The marker is printed after a newline of its own: drop that empty line.
        if (head.output[head.output.length - 1] === '') head.output.pop();
        const out = head.output.join('\n');
        if (m[2] === '0') head.resolve(out);
        else head.reject(new ShellCommandError(head.argv, Number(m[2]), out));
      } else head.output.push(line);
    }
  }

  run(argv: string[], input: string | undefined, id: string): Promise<string> {
    this.proc ??= this.start();
    const proc = this.proc;
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ id, resolve, reject, argv, output: [] });
      if (this.queue.length === 1) this.hold(proc, true);
      const cmd = argv.map(quote).join(' ');
      const eof = `TWILL_EOF_${id}`;
      const body = input === undefined ? `${cmd} </dev/null 2>&1` : `${cmd} 2>&1 <<'${eof}'\n${input.endsWith('\n') ? input : input + '\n'}${eof}`;
      proc.stdin.write(`${body}\nprintf '\\n@@twill ${id} %s\\n' "$?"\n`);
    });
  }

  stop(): void {
    this.proc?.kill();
    this.proc = undefined;
  }
}

/** Single-quotes an argument for /bin/sh. */
function quote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

let seq = 0;

export class ShellPool {
  private readonly shells: ResidentShell[];

  constructor(size = 3) {
    this.shells = Array.from({ length: size }, () => new ResidentShell());
  }

  /** Runs argv (with `input` on stdin); resolves with its output, rejects with it on failure. */
  run(argv: string[], input?: string): Promise<string> {
    if (input?.split('\n').some((l) => l.startsWith('TWILL_EOF_'))) throw new TwillError('INTERNAL', 'input holds the here-document delimiter');
    const shell = this.shells.reduce((a, b) => (b.load < a.load ? b : a));
    return shell.run(argv, input, `${process.pid}-${++seq}`);
  }

  stop(): void {
    for (const s of this.shells) s.stop();
  }
}

let shared: ShellPool | undefined;
export function shellPool(): ShellPool {
  shared ??= new ShellPool();
  return shared;
}
