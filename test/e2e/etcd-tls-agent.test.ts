// A real `twill agent` (the built bundle) in its own node namespace joins a cluster whose etcd
// demands TLS client certificates: with the right flags it registers and `twill status` says how
// etcd is secured; with a key others can read it refuses to start; with the wrong CA it keeps
// running, says why it cannot connect, and shows NOT CONNECTED.
// etcd listens on the host's 127.0.0.1; the agent reaches it as https://127.0.0.1:2379 inside its
// namespace through two byte-for-byte forwarders (TCP in the namespace → a unix socket → etcd),
// so the TLS session runs end to end between the agent and etcd.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { agentRequest } from '../../src/cli/client.js';
import { run } from '../../src/dataplane/kernel/exec.js';
import { startEtcd, type EtcdServer } from '../../src/datastore/index.js';
import { startNodeAgent, stopNodeAgent } from '../../src/lab/node-agent.js';
import { twillBin } from '../../src/util/paths.js';
import { TestScope } from '../support/scope.js';
import { makeTestCerts, type TestCerts } from '../support/tls-certs.js';

const scope = new TestScope();
let certs: TestCerts;
let etcd: EtcdServer;
let netns: { name: string; path: string };
let dir: string;

// Runs inside the node namespace: 127.0.0.1:2379 → the unix socket given as argv[1].
const NETNS_FORWARDER = `
const net = require('node:net');
const sock = process.argv[1];
net.createServer((c) => { const u = net.connect(sock); c.pipe(u); u.pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); })
  .listen(2379, '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

before(async () => {
  dir = await scope.tmpdir('tls-e2e-');
  certs = await makeTestCerts(dir, 'tls-node-1');
  etcd = await startEtcd({
    dataDir: join(dir, 'etcd'),
    clientUrls: ['https'],
    tls: { certFile: certs.server.cert, keyFile: certs.server.key, trustedCaFile: certs.ca.cert, clientCertAuth: true },
  });
  scope.defer(() => etcd.stop());
  const port = Number(new URL(etcd.endpoints[0]!).port);
  const sock = join(dir, 'tls-fwd.sock');
  const fwd = createServer((c) => {
    const t = connect(port, '127.0.0.1');
    c.pipe(t);
    t.pipe(c);
    c.on('error', () => t.destroy());
    t.on('error', () => c.destroy());
  });
  await new Promise<void>((res) => fwd.listen(sock, res));
  scope.defer(() => new Promise<void>((res) => fwd.close(() => res())));
  netns = await scope.netns('tls-n-');
  // The node's underlay: one end of a veth pair, both ends inside the namespace (no dummy module here).
  await run('ip', ['-n', netns.name, 'link', 'add', 'tlsu0', 'type', 'veth', 'peer', 'name', 'tlsu1']);
  await run('ip', ['-n', netns.name, 'addr', 'add', '192.0.2.10/24', 'dev', 'tlsu0']);
  for (const l of ['tlsu0', 'tlsu1']) await run('ip', ['-n', netns.name, 'link', 'set', l, 'up']);
  const child = scope.spawn('nsenter', [`--net=${netns.path}`, process.execPath, '-e', NETNS_FORWARDER, sock]);
  await new Promise<void>((res, rej) => {
    child.stdout!.once('data', () => res());
    child.once('exit', (code) => rej(new Error(`the in-namespace forwarder exited (${code})`)));
  });
});
after(() => scope.cleanup());

/** Agent flags for TLS etcd; `over` replaces single flags. */
function agentArgs(over: Record<string, string> = {}): string[] {
  const flags: Record<string, string> = {
    '--datastore': 'etcd:https://127.0.0.1:2379',
    '--etcd-ca-file': certs.ca.cert,
    '--etcd-cert-file': certs.client.cert,
    '--etcd-key-file': certs.client.key,
    '--underlay-iface': 'tlsu0',
    '--lease-ttl': '4',
    ...over,
  };
  return Object.entries(flags).flat();
}

async function agentDir(name: string): Promise<string> {
  const d = join(dir, name);
  await mkdir(d, { recursive: true });
  scope.defer(() => stopNodeAgent(d, 'SIGKILL'));
  return d;
}

interface Status { cluster?: { datastore: { name: string; connected: boolean; security?: string } } }

async function waitStatus(socket: string, pred: (s: Status) => boolean): Promise<Status> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = await agentRequest<Status>(socket, 'GET', '/v1/status');
    if (pred(s)) return s;
    if (Date.now() > deadline) assert.fail(`status never matched: ${JSON.stringify(s.cluster?.datastore)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('the right certificate: the agent registers over TLS, and `twill status` shows how', async () => {
  const d = await agentDir('good');
  await startNodeAgent({ nodeName: 'tls-node-1', netns: netns.name, dir: d, args: agentArgs() });
  const socket = join(d, 'agent.sock');
  await waitStatus(socket, (s) => s.cluster?.datastore.connected === true);
  const admin = new Etcd3({ hosts: etcd.endpoints[0]!, credentials: { rootCertificate: await readFile(certs.ca.cert), privateKey: await readFile(certs.client.key), certChain: await readFile(certs.client.cert) } });
  try {
    const raw = await admin.get('/twill/twillnodes/tls-node-1').string();
    assert.ok(raw && JSON.parse(raw).spec.underlayIP === '192.0.2.10', `the node registered in etcd: ${raw}`);
  } finally {
    admin.close();
  }
  const { stdout } = await promisify(execFile)(process.execPath, [twillBin(), 'status', '--socket', socket]);
  const line = stdout.split('\n').find((l) => l.startsWith('datastore:'));
  assert.equal(line, `datastore: etcd:https://127.0.0.1:2379 connected; TLS (CA ${certs.ca.cert}, client cert ${certs.client.cert}), no etcd user`);
  const log = await readFile(join(d, 'agent.log'), 'utf8');
  assert.ok(!log.includes('PRIVATE KEY') && !log.includes((await readFile(certs.client.key, 'utf8')).split('\n')[1]!), 'no key material in the log');
  assert.ok(!log.includes('DEP0123'), 'no TLS servername deprecation noise in the log');
  await stopNodeAgent(d);
});

test('a key file others can read: the agent refuses to start and says path, mode and fix', async () => {
  const d = await agentDir('loose');
  const loose = join(dir, 'tls-loose.key');
  await copyFile(certs.client.key, loose);
  await chmod(loose, 0o644);
  await assert.rejects(startNodeAgent({ nodeName: 'tls-node-1', netns: netns.name, dir: d, args: agentArgs({ '--etcd-key-file': loose }) }, 4_000), /it exited/);
  const log = await readFile(join(d, 'agent.log'), 'utf8');
  assert.ok(log.includes(`--etcd-key-file ${loose} has mode 0644`) && log.includes(`chmod 600 ${loose}`), log);
});

test('plaintext to a non-loopback etcd: refused without --etcd-allow-plaintext', async () => {
  const d = await agentDir('plain');
  await assert.rejects(startNodeAgent({ nodeName: 'tls-node-1', netns: netns.name, dir: d, args: ['--datastore', 'etcd:http://192.0.2.99:2379', '--underlay-iface', 'tlsu0'] }, 4_000), /it exited/);
  assert.match(await readFile(join(d, 'agent.log'), 'utf8'), /refusing plaintext etcd at http:\/\/192\.0\.2\.99:2379: it is not a loopback address.*--etcd-allow-plaintext/);
});

test('the wrong CA for the server: the agent runs, logs why at warn, and status says NOT CONNECTED', async () => {
  const d = await agentDir('wrong-ca');
  await startNodeAgent({ nodeName: 'tls-node-2', netns: netns.name, dir: d, args: agentArgs({ '--etcd-ca-file': certs.otherCa.cert }) });
  const s = await waitStatus(join(d, 'agent.sock'), (x) => x.cluster !== undefined);
  assert.equal(s.cluster!.datastore.connected, false);
  const deadline = Date.now() + 10_000;
  let log = '';
  while (Date.now() < deadline && !/WARN.*server certificate is not trusted/.test(log)) {
    await new Promise((r) => setTimeout(r, 200));
    log = await readFile(join(d, 'agent.log'), 'utf8');
  }
  assert.match(log, /WARN .*etcd's server certificate is not trusted .*--etcd-ca-file /);
  if (process.env['TLS_SHOW_LOG']) process.stderr.write(log);
  await stopNodeAgent(d);
});
