// Small processes the Services bench runs inside the namespaces it makes (plain JS, no build):
//   relay LISTEN_PORT UNIX_PATH      127.0.0.1:LISTEN_PORT in this namespace → a unix socket
//                                    (how kube-proxy in a node namespace reaches the apiserver)
//   serve PORT                       accepts TCP connections and closes each at once
//   connect HOST PORT SECONDS CONC   opens and closes connections for SECONDS (bounded), CONC at a
//                                    time; prints {"connections":N,"seconds":S,"errors":E}
import { createConnection, createServer } from 'node:net';

const [mode, ...a] = process.argv.slice(2);
if (mode === 'relay') {
  createServer((c) => {
    const u = createConnection(a[1]);
    c.pipe(u).pipe(c);
    for (const s of [c, u]) s.on('error', () => { c.destroy(); u.destroy(); });
  }).listen(Number(a[0]), '127.0.0.1', () => console.log('ready'));
} else if (mode === 'serve') {
  createServer((c) => { c.on('error', () => undefined); c.end(); }).listen(Number(a[0]), '0.0.0.0', () => console.log('ready'));
} else if (mode === 'connect') {
  const [host, port, seconds, conc] = [a[0], Number(a[1]), Number(a[2]), Number(a[3])];
  if (!(seconds > 0 && seconds <= 30 && conc >= 1 && conc <= 256)) throw new Error('connect: SECONDS 0..30, CONC 1..256');
  const start = performance.now();
  const end = start + seconds * 1000;
  let n = 0;
  let errors = 0;
  const one = () => new Promise((res) => {
    const s = createConnection({ host, port });
    s.on('end', () => { n++; s.destroy(); res(); });
    s.on('error', () => { errors++; s.destroy(); res(); });
    s.setTimeout(2000, () => { errors++; s.destroy(); res(); });
    s.resume();
  });
  const worker = async () => { while (performance.now() < end) await one(); };
  await Promise.all(Array.from({ length: conc }, worker));
  console.log(JSON.stringify({ connections: n, seconds: (performance.now() - start) / 1000, errors }));
} else throw new Error(`unknown mode ${mode}`);
