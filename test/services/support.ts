// A UDP client that keeps one flow (one source port) alive: it sends a datagram every interval
// for a bounded time from inside a namespace, and records who answered (the lab's pod server
// echoes its identity). That is what a DNS resolver or a game client looks like to conntrack.
import { createInterface } from 'node:readline';
import type { TestScope } from '../support/scope.js';

export interface UdpAnswer {
  /** ms since the stream started. */
  at: number;
  /** Pod name of the endpoint that answered. */
  from: string;
}

const CLIENT = `
const [ip, port, interval, seconds] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4');
const t0 = Date.now();
s.on('message', (m) => process.stdout.write(JSON.stringify({ at: Date.now() - t0, from: m.toString().trim() }) + '\\n'));
s.on('error', () => undefined);
s.bind(0, () => {
  const timer = setInterval(() => s.send('ping', Number(port), ip), Number(interval));
  setTimeout(() => { clearInterval(timer); setTimeout(() => process.exit(0), 300); }, Number(seconds) * 1000);
});
`;

export function udpStream(scope: TestScope, netns: string, ip: string, port: number, o: { intervalMs: number; seconds: number }): { answers(): UdpAnswer[]; done: Promise<UdpAnswer[]>; startedAt: number } {
  const got: UdpAnswer[] = [];
  const startedAt = Date.now();
  const child = scope.spawn('nsenter', [`--net=/run/netns/${netns}`, process.execPath, '-e', CLIENT, ip, String(port), String(o.intervalMs), String(o.seconds)]);
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const a = JSON.parse(l) as UdpAnswer;
    got.push({ at: a.at, from: a.from.split('/').pop()! });
  });
  const done = new Promise<UdpAnswer[]>((resolve) => child.on('exit', () => setTimeout(() => resolve(got), 50)));
  return { answers: () => got, done, startedAt };
}
