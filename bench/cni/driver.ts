// Runs inside a node's network namespace and times CNI plugin executions the way a runtime on
// that node would start them: a direct exec of the plugin binary with CNI env and stdin.
// Input (argv[2]): a JSON job file. Output (stdout): JSON timings in milliseconds.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mapLimit } from '../../src/util/mutex.js';

interface Job {
  plugin: string;
  cniPath: string;
  conf: Record<string, unknown>;
  pods: { containerId: string; netns: string }[];
  /** VERSION measures the plugin's start-up and exit alone (no kernel work, no agent). */
  command: 'ADD' | 'DEL' | 'VERSION';
  concurrency: number;
}

function execPlugin(job: Job, pod: Job['pods'][number]): Promise<number> {
  const env = {
    PATH: process.env['PATH'],
    ...(process.env['NODE_EXTRA_CA_CERTS'] ? { NODE_EXTRA_CA_CERTS: process.env['NODE_EXTRA_CA_CERTS'] } : {}),
    CNI_COMMAND: job.command,
    CNI_CONTAINERID: pod.containerId,
    CNI_NETNS: pod.netns,
    CNI_IFNAME: 'eth0',
    CNI_PATH: job.cniPath,
    CNI_ARGS: 'IgnoreUnknown=1',
  };
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(job.plugin, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`${job.plugin} ${job.command} failed: ${out}`));
      else resolve(ms);
    });
    // A plugin may exit without reading stdin (the bridge plugin's VERSION): that is not an error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(job.conf));
  });
}

const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Job;
const times = await mapLimit(job.pods, job.concurrency, (p) => execPlugin(job, p));
process.stdout.write(JSON.stringify(times));
