// A sequenced UDP stream between two pods, run inside each pod's namespace with nsenter:
//   node udp-stream.mjs recv PORT SECONDS            prints {"received":N,"maxGapMs":G,"gaps":[…]}
//   node udp-stream.mjs send IP PORT SECONDS EVERY_MS PAYLOAD
// The receiver reports the longest silence between consecutive datagrams (after the first).
import { createSocket } from 'node:dgram';

const [mode, ...a] = process.argv.slice(2);
if (mode === 'recv') {
  const [port, seconds] = a.map(Number);
  const s = createSocket('udp4');
  let last = 0, received = 0, maxGap = 0;
  const gaps = [];
  s.on('message', () => {
    const now = performance.now();
    if (last) {
      const g = now - last;
      if (g > maxGap) maxGap = g;
      if (g > 20) gaps.push(Math.round(g));
    }
    last = now;
    received++;
  });
  s.bind(port, () => console.error('listening'));
  setTimeout(() => {
    console.log(JSON.stringify({ received, maxGapMs: Math.round(maxGap * 10) / 10, gaps }));
    process.exit(0);
  }, seconds * 1000);
} else if (mode === 'send') {
  const [ip, port, seconds, every, payload] = a;
  const s = createSocket('udp4');
  const until = Date.now() + Number(seconds) * 1000;
  let seq = 0;
  const t = setInterval(() => {
    // At least a few datagrams even when a busy machine delays the first tick past the deadline.
    if (Date.now() > until && seq >= 5) { clearInterval(t); s.close(); return; }
    s.send(`${payload} ${seq++}`, Number(port), ip);
  }, Number(every));
} else {
  console.error('usage: udp-stream.mjs recv PORT SECONDS | send IP PORT SECONDS EVERY_MS PAYLOAD');
  process.exit(2);
}
