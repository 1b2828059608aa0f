// One iperf3 TCP run between two network namespaces: a one-off server (`-s -1`) in the
// destination, a JSON client (`-J`) in the source, both bounded in time and always stopped.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { TwillError } from '../util/errors.js';
import type { Sample } from './bench-report.js';

export interface IperfRun {
  /** Source and destination namespace names. */
  from: string;
  to: string;
  /** Address the client connects to (inside `to`). */
  ip: string;
  seconds: number;
  port?: number;
  /** Aborting kills the client and the server (the bench's SIGINT/SIGTERM handler does). */
  signal?: AbortSignal;
  /**
   * CPUs to pin the client and the server to (iperf3 -A): on a small machine the scheduler
   * otherwise puts them on one CPU in some runs and on two in others, and the throughput moves
   * 3× between runs of the same path.
   */
  cpus?: { client: number; server: number };
}

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bits_per_second?: number; seconds?: number };
    sum_sent?: { retransmits?: number };
    cpu_utilization_percent?: { host_total?: number; remote_total?: number };
  };
}

function waitListening(server: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => done(new TwillError('TIMEOUT', `iperf3 server did not start listening within ${timeoutMs} ms: ${out.trim()}`)), timeoutMs);
    const onData = (b: Buffer) => {
      out += b.toString();
      if (/Server listening/.test(out)) done();
    };
    const onExit = (code: number | null) => done(new TwillError('INTERNAL', `iperf3 server exited (${code}) before listening: ${out.trim()}`));
    function done(e?: Error): void {
      clearTimeout(timer);
      server.stdout?.off('data', onData);
      server.stderr?.off('data', onData);
      server.off('exit', onExit);
      if (e) reject(e);
      else resolve();
    }
    server.stdout?.on('data', onData);
    server.stderr?.on('data', onData);
    server.once('exit', onExit);
  });
}

async function stop(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

/** iperf3 -J reports its own errors as JSON on stdout with a non-zero exit: keep stdout either way. */
function client(args: string[], timeoutMs: number, signal?: AbortSignal): Promise<{ stdout: string; stderr: string; failure?: string }> {
  return new Promise((resolve) => {
    execFile('ip', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', killSignal: 'SIGKILL', ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, ...(err ? { failure: err.message } : {}) });
    });
  });
}

/** Runs iperf3 once; returns the receiver's throughput in Gbit/s and the sender's retransmits. */
export async function iperf3(o: IperfRun): Promise<Sample> {
  const port = String(o.port ?? 5201);
  if (!(o.seconds >= 1 && o.seconds <= 600)) throw new TwillError('CONFIG_INVALID', `iperf3 duration must be 1..600 s, got ${o.seconds}`);
  const pin = (cpu: number | undefined): string[] => (cpu === undefined ? [] : ['-A', String(cpu)]);
  const server = spawn('ip', ['netns', 'exec', o.to, 'iperf3', '-s', '-1', '--forceflush', '-p', port, ...pin(o.cpus?.server)], { stdio: ['ignore', 'pipe', 'pipe'], ...(o.signal ? { signal: o.signal, killSignal: 'SIGKILL' as const } : {}) });
  const serverError = new Promise<Error>((r) => server.once('error', r));
  try {
    await Promise.race([waitListening(server, 5000), serverError.then((e) => Promise.reject(e))]);
    const c = await client(['netns', 'exec', o.from, 'iperf3', '-c', o.ip, '-p', port, '-t', String(o.seconds), '-J', ...pin(o.cpus?.client)], o.seconds * 1000 + 20_000, o.signal);
    let j: IperfJson = {};
    try {
      j = JSON.parse(c.stdout) as IperfJson;
    } catch {
      // why: Not JSON: iperf3 failed before it could report (reported below with its stderr).
    }
    const bps = j.end?.sum_received?.bits_per_second;
    if (j.error || typeof bps !== 'number' || !(bps > 0)) {
      throw new TwillError('INTERNAL', `iperf3 ${o.from} → ${o.ip}:${port} failed: ${j.error ?? (c.stderr.trim() || c.failure || 'no throughput in its report')}`);
    }
    // iperf3's CPU figures are each process's own user+system time over the run (getrusage).
    // Without IRQ time accounting the kernel charges softirq work — most of a veth/VXLAN path —
    // to the task it interrupted, usually these two, so their sum approximates the path's cost.
    const cpu = j.end?.cpu_utilization_percent;
    const secs = j.end?.sum_received?.seconds ?? o.seconds;
    const cpuSeconds = cpu?.host_total !== undefined && cpu.remote_total !== undefined ? ((cpu.host_total + cpu.remote_total) / 100) * secs : undefined;
    return { gbps: bps / 1e9, retransmits: j.end?.sum_sent?.retransmits ?? 0, ...(cpuSeconds ? { gbitPerCpuSecond: (bps / 1e9) * secs / cpuSeconds } : {}) };
  } finally {
    // The server exits by itself after one test; give it a moment, then make sure.
    await stop(server, 2000);
  }
}
