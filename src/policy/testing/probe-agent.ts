// A probe agent for kernel tests and the bench, run inside one network namespace:
//   ip netns exec NS node --import tsx probe-agent.ts --tcp 80,8080 --udp 53
// It serves TCP (answers "ok") and UDP (echoes, and remembers payloads) on the given ports, and
// runs probes it is asked for on stdin, one JSON object per line; answers go to stdout, one per
// line, with the request's id. Every probe is bounded by its timeout.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { createInterface } from 'node:readline';

type Req =
  | { id: number; op: 'tcp'; host: string; port: number; timeoutMs: number; localPort?: number; localAddress?: string }
  | { id: number; op: 'udp'; host: string; port: number; timeoutMs: number; localPort?: number; localAddress?: string; payload: string }
  | { id: number; op: 'ping'; host: string; timeoutMs: number }
  | { id: number; op: 'log' }
  | { id: number; op: 'connrate'; host: string; port: number; count: number; maxMs: number };

const arg = (name: string): number[] => {
  const i = process.argv.indexOf(name);
  return i < 0 ? [] : (process.argv[i + 1] ?? '').split(',').filter(Boolean).map(Number);
};

const received: string[] = [];
const out = (o: object): boolean => process.stdout.write(JSON.stringify(o) + '\n');

function serve(): Promise<void>[] {
  const ready: Promise<void>[] = [];
  for (const port of arg('--tcp')) {
    const srv = net.createServer((s) => {
      s.on('error', () => undefined);
      s.end('ok');
    });
    ready.push(new Promise((res) => srv.listen({ port, host: '0.0.0.0' }, res)));
  }
  // A UDP reply must leave from the address the request was sent to, or conntrack sees a new
  // flow: with several addresses (--bind), bind one socket per address.
  const addrs = (process.argv[process.argv.indexOf('--bind') + 1] ?? '').split(',').filter((a) => process.argv.includes('--bind') && a);
  for (const port of arg('--udp')) {
    for (const address of addrs.length ? addrs : ['0.0.0.0']) {
      const sock = dgram.createSocket('udp4');
      sock.on('message', (msg, rinfo) => {
        if (received.length < 10_000) received.push(msg.toString());
        sock.send(msg, rinfo.port, rinfo.address);
      });
      ready.push(new Promise((res) => sock.bind(port, address, res)));
    }
  }
  return ready;
}

function tcpProbe(r: Extract<Req, { op: 'tcp' }>): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: r.host, port: r.port, ...(r.localPort ? { localPort: r.localPort } : {}), ...(r.localAddress ? { localAddress: r.localAddress } : {}) });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), r.timeoutMs);
    s.on('data', () => done(true));
    s.on('error', () => done(false));
  });
}

let lastError = '';

function udpProbe(r: Extract<Req, { op: 'udp' }>): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), r.timeoutMs);
    sock.on('message', () => done(true));
    sock.on('error', (e) => {
      lastError = String(e);
      done(false);
    });
    sock.bind({ port: r.localPort ?? 0, ...(r.localAddress ? { address: r.localAddress } : {}) }, () =>
      sock.send(r.payload, r.port, r.host, (e) => {
        if (e) sock.emit('error', e);
      }),
    );
  });
}

function pingProbe(r: Extract<Req, { op: 'ping' }>): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('ping', ['-n', '-q', '-c', '1', '-W', String(Math.max(1, Math.ceil(r.timeoutMs / 1000))), r.host], { stdio: 'ignore' });
    p.on('exit', (code) => resolve(code === 0));
    p.on('error', () => resolve(false));
  });
}

/** Sequential new TCP connections for at most `maxMs`: how many completed. */
async function connRate(r: Extract<Req, { op: 'connrate' }>): Promise<{ done: number; ms: number }> {
  const start = performance.now();
  let done = 0;
  while (done < r.count && performance.now() - start < r.maxMs) {
    if (!(await tcpProbe({ id: 0, op: 'tcp', host: r.host, port: r.port, timeoutMs: 1000 }))) break;
    done++;
  }
  return { done, ms: performance.now() - start };
}

async function handle(line: string): Promise<void> {
  const r = JSON.parse(line) as Req;
  const t0 = performance.now();
  switch (r.op) {
    case 'tcp':
      out({ id: r.id, ok: await tcpProbe(r), ms: performance.now() - t0 });
      return;
    case 'udp':
      lastError = '';
      out({ id: r.id, ok: await udpProbe(r), ms: performance.now() - t0, ...(lastError ? { error: lastError } : {}) });
      return;
    case 'ping':
      out({ id: r.id, ok: await pingProbe(r), ms: performance.now() - t0 });
      return;
    case 'log':
      out({ id: r.id, ok: true, log: received });
      return;
    case 'connrate':
      out({ id: r.id, ok: true, ...(await connRate(r)) });
      return;
  }
}

await Promise.all(serve());
out({ ready: true });
createInterface({ input: process.stdin }).on('line', (l) => {
  handle(l).catch((e: unknown) => out({ id: -1, ok: false, error: String(e) }));
});
process.stdin.on('end', () => process.exit(0));
