// New TCP connections from inside a pod's namespace: node conn-load.mjs IP PORT SECONDS RATE [ports]
// RATE 0: as fast as 64 concurrent connects allow; else paced to RATE per second. Each
// connection is closed as soon as it is established. Prints one JSON line; with `ports`, it
// includes the source port of every connection that connected (to match them to flow records).
import { connect } from 'node:net';

const [ip, port, seconds, rate] = process.argv.slice(2, 6).map((x, i) => (i === 0 ? x : Number(x)));
const ports = process.argv[6] === 'ports' ? [] : undefined;
const end = Date.now() + seconds * 1000;
let attempted = 0;
let connected = 0;
let failed = 0;
let inflight = 0;

function one() {
  attempted++;
  inflight++;
  const s = connect({ host: ip, port, timeout: 2000 });
  const done = (ok) => {
    if (ok) {
      connected++;
      ports?.push(s.localPort);
    }
    else failed++;
    inflight--;
    s.destroy();
  };
  s.once('connect', () => done(true));
  s.once('error', () => done(false));
  s.once('timeout', () => done(false));
}

const t0 = Date.now();
if (rate === 0) {
  await new Promise((resolve) => {
    const pump = () => {
      while (inflight < 64 && Date.now() < end) one();
      if (Date.now() >= end && inflight === 0) resolve();
      else setImmediate(pump);
    };
    pump();
  });
} else {
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(Math.floor(((Date.now() - t0) / 1000) * rate), rate * seconds);
      while (attempted < due) one();
      if (Date.now() >= end && attempted >= rate * seconds) {
        clearInterval(tick);
        const wait = setInterval(() => {
          if (inflight === 0) {
            clearInterval(wait);
            resolve();
          }
        }, 10);
      }
    }, 5);
  });
}
process.stdout.write(`${JSON.stringify({ attempted, connected, failed, seconds: (Date.now() - t0) / 1000, ...(ports ? { ports } : {}) })}\n`);
