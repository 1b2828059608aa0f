// A small process the Services bench runs inside the namespaces it makes (plain JS, no build):
//   relay LISTEN_PORT UNIX_PATH      127.0.0.1:LISTEN_PORT in this namespace → a unix socket
//                                    (how kube-proxy in a node namespace reaches the apiserver)
// The connection load is bench/tools/crr (Go): the Node.js client this file had reached ~21,000
// connections/s on loopback where crr reaches ~44,000, its own CPU the limit.
import { createConnection, createServer } from 'node:net';

const [mode, ...a] = process.argv.slice(2);
if (mode === 'relay') {
  createServer((c) => {
    const u = createConnection(a[1]);
    c.pipe(u).pipe(c);
    for (const s of [c, u]) s.on('error', () => { c.destroy(); u.destroy(); });
  }).listen(Number(a[0]), '127.0.0.1', () => console.log('ready'));
} else throw new Error(`unknown mode ${mode}`);
