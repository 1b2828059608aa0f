// The process inside every lab pod (bundled to dist/pod-server.js, started in the pod's network
// namespace). It answers on each declared containerPort — TCP sends the pod's identity and
// closes, UDP echoes the identity back — and serves a control socket (a unix socket file, so it
// is reachable from any namespace) through which the lab asks it to probe other pods: the
// connection then really originates inside this pod.
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { rmSync } from 'node:fs';

export interface ProbeTarget {
  ip: string;
  port: number;
  protocol: 'tcp' | 'udp';
  timeoutMs: number;
}

export interface ProbeOutcome extends ProbeTarget {
  connected: boolean;
  /** What answered (the remote pod's identity), or why not. */
  detail: string;
  ms: number;
}

function probeTcp(t: ProbeTarget): Promise<ProbeOutcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let data = '';
    let done = false;
    const finish = (connected: boolean, detail: string) => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve({ ...t, connected, detail, ms: Math.round(performance.now() - t0) });
    };
    const sock = connect({ host: t.ip, port: t.port });
    sock.setTimeout(t.timeoutMs, () => finish(false, 'timeout'));
    sock.on('data', (c: Buffer) => (data += c.toString()));
    sock.on('connect', () => setTimeout(() => finish(true, data.trim() || 'connected'), 50));
    sock.on('end', () => finish(true, data.trim() || 'connected'));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(false, e.code ?? e.message));
  });
}

// UDP has no close: conntrack keeps an answered flow for 30 s or more, and a packet of a tracked
// flow passes without a policy check. Were a probe to reuse a recent probe's source port (the
// kernel picks them at random), it would join that earlier, accepted flow and slip past a policy
// that denies it now. So each probe takes the next port of a rotating range (from a random start):
// a port comes back only after UDP_PORT_COUNT probes from this pod.
const UDP_PORT_FIRST = 40_000;
const UDP_PORT_COUNT = 16_384;
let nextUdpPort = UDP_PORT_FIRST + Math.floor(Math.random() * UDP_PORT_COUNT);

function takeUdpPort(): number {
  const p = nextUdpPort;
  nextUdpPort = UDP_PORT_FIRST + ((p - UDP_PORT_FIRST + 1) % UDP_PORT_COUNT);
  return p;
}

function probeUdp(t: ProbeTarget, attempt = 0): Promise<ProbeOutcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = createSocket(t.ip.includes(':') ? 'udp6' : 'udp4');
    let done = false;
    let bound = false;
    const finish = (connected: boolean, detail: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve({ ...t, connected, detail, ms: Math.round(performance.now() - t0) });
    };
    const timer = setTimeout(() => finish(false, 'timeout'), t.timeoutMs);
    sock.on('message', (m) => finish(true, m.toString().trim()));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (!bound && e.code === 'EADDRINUSE' && attempt < 5) {
        // Still held by a probe in flight: take the next port.
        done = true;
        clearTimeout(timer);
        sock.close();
        resolve(probeUdp(t, attempt + 1));
        return;
      }
      finish(false, e.code ?? e.message);
    });
    sock.bind(takeUdpPort(), () => {
      bound = true;
      sock.send('probe\n', t.port, t.ip);
    });
  });
}

export function probe(t: ProbeTarget): Promise<ProbeOutcome> {
  return t.protocol === 'udp' ? probeUdp(t) : probeTcp(t);
}

function main(): void {
  const [identity, control, ...ports] = process.argv.slice(2);
  if (!identity || !control) {
    process.stderr.write('usage: pod-server IDENTITY CONTROL_SOCKET [PORT/tcp|PORT/udp …]\n');
    process.exit(2);
  }
  for (const spec of ports) {
    const [p, proto = 'tcp'] = spec.split('/');
    const port = Number(p);
    if (proto === 'udp') {
      const s = createSocket('udp4');
      s.on('message', (_m, rinfo) => s.send(`${identity}\n`, rinfo.port, rinfo.address));
      s.on('error', () => undefined);
      s.bind(port);
    } else {
      // Reports the peer address too, so tests can see whether a source was NATed.
      // A prober may reset the connection before our reply is out; one client's reset must not
      // take the whole pod server down (an unhandled 'error' event would).
      createTcpServer((c) => {
        c.on('error', () => undefined);
        c.end(`${identity} ${(c.remoteAddress ?? '').replace(/^::ffff:/, '')}\n`);
      }).listen(port);
    }
  }
  rmSync(control, { force: true });
  createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { targets?: ProbeTarget[] };
          const results = await Promise.all((body.targets ?? []).slice(0, 5000).map((t) => probe(t)));
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ identity, results }));
        } catch (e) {
          res.writeHead(400);
          res.end(JSON.stringify({ error: String(e) }));
        }
      })();
    });
  }).listen(control);
  process.on('SIGTERM', () => process.exit(0));
}

if (process.argv[1]?.endsWith('pod-server.js')) main();
