// Services end to end: a 2-node etcd lab with real agents; Services and EndpointSlices are written
// to the datastore (an etcd lab has no slice controller yet) and the agents program twill-services.
// Every check is made with real connections from pods, from the node, or from the underlay
// namespace, which stands for "outside the cluster".
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { run } from '../../src/dataplane/kernel/exec.js';
import { deleteDocs, syncServices } from '../../src/lab/apply.js';
import { loadManifests } from '../../src/lab/manifest.js';
import { formatServiceProbe, probeService } from '../../src/lab/services/probe.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabKubelet, type PodRecord } from '../../src/lab/kubelet.js';
import type { Lab } from '../../src/lab/lab.js';
import { probeFrom } from '../../src/lab/pod-sandbox.js';
import type { ProbeOutcome } from '../../src/lab/pod-server.js';
import { podDir } from '../../src/lab/state.js';
import type { EndpointSlice, Service } from '../../src/model/types.js';
import { endpoint, service, slice } from '../../src/services/fixtures.js';
import { applyYaml, podYaml, upLab } from '../support/lab.js';
import { startProbeServer, type ProbeServer } from '../support/probe-server.js';
import { TestScope } from '../support/scope.js';
import { udpStream } from './support.js';

const NS = 'sv';
const scope = new TestScope();
let lab: Lab;
const pods = new Map<string, PodRecord>();
let outside: ProbeServer;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ip = (pod: string): string => pods.get(pod)!.ip;
const ep = (pod: string) => endpoint(ip(pod), pods.get(pod)!.node);
const identity = (o: ProbeOutcome): string => o.detail.split(' ')[0]!.split('/').pop()!;
const peerAddr = (o: ProbeOutcome): string => o.detail.split(' ')[1] ?? '';

async function put(...objs: (Service | EndpointSlice)[]): Promise<void> {
  const store = await lab.store();
  for (const o of objs) await store.put(o);
  await syncServices(lab, (l) => assert.fail(l));
}

function svc(name: string, spec: Partial<Service['spec']>, extra: Partial<Service> = {}): Service {
  return service(name, { ports: [{ port: 80, targetPort: 80 }], ...spec }, extra, NS);
}

function slc(name: string, members: string[], ports: EndpointSlice['ports'] = [{ name: '', port: 80, protocol: 'TCP' }]): EndpointSlice {
  return slice(name, members.map(ep), ports, 'a', NS);
}

async function fromPod(pod: string, ipAddr: string, port: number, n = 1, timeoutMs = 2000, protocol: 'tcp' | 'udp' = 'tcp'): Promise<ProbeOutcome[]> {
  const out: ProbeOutcome[] = [];
  // Bounded batches: each probe is one connection from inside the pod.
  for (let done = 0; done < n; done += 200) {
    const batch = Array.from({ length: Math.min(200, n - done) }, () => ({ ip: ipAddr, port, protocol, timeoutMs }));
    out.push(...(await probeFrom(podDir(lab.name, NS, pod), batch)));
  }
  return out;
}

before(async () => {
  lab = await upLab(scope, 'svl', { nodes: 2 });
  let yaml = `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n---\n`;
  const udp = (name: string, node: string) => `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS}, labels: { app: ${name} } }\nspec:\n  nodeName: ${node}\n  containers: [{ name: c, ports: [{ containerPort: 80 }, { containerPort: 53, protocol: UDP }] }]\n---\n`;
  yaml += udp('a1', 'node-1') + udp('a2', 'node-2') + udp('a3', 'node-2');
  yaml += podYaml(NS, 'c1', 'node-1', [80]) + podYaml(NS, 'c2', 'node-2', [80]);
  await applyYaml(scope, lab, yaml);
  for (const r of await new LabKubelet(lab).records()) if (r.namespace === NS) pods.set(r.name, r);
  outside = await startProbeServer(scope, lab.state.underlayNetns, 'outside', []);
});
after(() => scope.cleanup());

describe('Services in an etcd lab (real agents, real kernel)', () => {
  test('ClusterIP reaches an endpoint; pod → Service → pod on another node keeps the client pod address', async () => {
    await put(svc('web', { clusterIP: '10.96.0.10' }), slc('web', ['a1', 'a2', 'a3']));
    const rs = await fromPod('c1', '10.96.0.10', 80, 30);
    assert.ok(rs.every((r) => r.connected), JSON.stringify(rs.filter((r) => !r.connected).slice(0, 3)));
    const remote = rs.filter((r) => identity(r) !== 'a1');
    assert.ok(remote.length > 0, 'some connections went to node-2');
    for (const r of rs) assert.equal(peerAddr(r), ip('c1'), `the endpoint saw ${r.detail}`);
  });

  test('even spread over 3 endpoints (chi-square, 3000 connections)', async () => {
    const n = 3000;
    const rs = await fromPod('c2', '10.96.0.10', 80, n, 3000);
    const counts = new Map<string, number>();
    for (const r of rs) if (r.connected && /^a\d$/.test(identity(r))) counts.set(identity(r), (counts.get(identity(r)) ?? 0) + 1);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    assert.ok(total >= n * 0.95, `only ${total}/${n} connections were answered by an endpoint`);
    const expected = total / 3;
    const chi2 = ['a1', 'a2', 'a3'].reduce((a, k) => a + ((counts.get(k) ?? 0) - expected) ** 2 / expected, 0);
    // 2 degrees of freedom: P(chi2 > 13.82) = 0.001 for a fair choice.
    process.stdout.write(`# spread ${JSON.stringify(Object.fromEntries(counts))} chi2=${chi2.toFixed(2)}\n`);
    assert.ok(chi2 < 13.82, `uneven: ${JSON.stringify(Object.fromEntries(counts))}, chi2 ${chi2.toFixed(2)}`);
  });

  test('ClientIP affinity holds within its timeout and expires after it', async () => {
    await put(svc('sticky', { clusterIP: '10.96.0.11', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 2 } } }), slc('sticky', ['a1', 'a2', 'a3']));
    const chosen: string[] = [];
    for (let round = 0; round < 8; round++) {
      const rs: ProbeOutcome[] = [];
      for (let i = 0; i < 6; i++) {
        rs.push(...(await fromPod('c1', '10.96.0.11', 80, 3)));
        await sleep(250);
      }
      const ids = new Set(rs.map(identity));
      assert.ok(rs.every((r) => r.connected));
      assert.equal(ids.size, 1, `round ${round}: one client, one endpoint while within the timeout (got ${[...ids].join(', ')})`);
      chosen.push([...ids][0]!);
      if (new Set(chosen).size > 1) break;
      await sleep(2600);
    }
    process.stdout.write(`# affinity rounds ${chosen.join(' ')}\n`);
    assert.ok(new Set(chosen).size > 1, `after the timeout the choice is free again; 8 rounds all went to ${chosen[0]}`);
  });

  test('a Service with no endpoints is refused at once (TCP RST), not left to time out', async () => {
    await put(svc('empty', { clusterIP: '10.96.0.12' }), slc('empty', []));
    const rs = await fromPod('c1', '10.96.0.12', 80, 20, 3000);
    const ms = rs.map((r) => r.ms).sort((a, b) => a - b);
    process.stdout.write(`# reject latency ms p50=${ms[10]} max=${ms[19]}\n`);
    for (const r of rs) assert.equal(r.detail, 'ECONNREFUSED');
    assert.ok(ms[19]! < 200, `rejects took up to ${ms[19]} ms; a connect timeout is 3000 ms`);
    // Endpoints appear: the same address now connects.
    await put(slc('empty', ['a2']));
    assert.ok((await fromPod('c1', '10.96.0.12', 80, 3)).every((r) => r.connected && identity(r) === 'a2'));
  });

  test('NodePort from outside the cluster reaches endpoints on any node, masqueraded', async () => {
    await put(svc('np', { clusterIP: '10.96.0.13', type: 'NodePort', ports: [{ port: 80, targetPort: 80, nodePort: 30080 }] }), slc('np', ['a1', 'a2']));
    for (const nodeIP of ['192.0.2.11', '192.0.2.12']) {
      const rs = await outside.probe(Array.from({ length: 20 }, () => ({ ip: nodeIP, port: 30080, protocol: 'tcp' as const, timeoutMs: 2000 })));
      assert.ok(rs.every((r) => r.connected), `${nodeIP}: ${JSON.stringify(rs.filter((r) => !r.connected).slice(0, 2))}`);
      assert.deepEqual(new Set(rs.map(identity)), new Set(['a1', 'a2']), `${nodeIP} spreads over both nodes' endpoints`);
      assert.ok(rs.every((r) => peerAddr(r) !== '192.0.2.1'), 'eTP=Cluster: the client address is replaced by the node');
    }
  });

  test('externalTrafficPolicy Local: client address kept, local endpoints only, health check answers', async () => {
    await run('ip', ['-n', lab.state.underlayNetns, 'route', 'replace', '203.0.113.10/32', 'via', '192.0.2.12']);
    await put(
      svc('loc', { clusterIP: '10.96.0.14', type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32081, ports: [{ port: 80, targetPort: 80, nodePort: 30081 }] }, { status: { loadBalancer: { ingress: [{ ip: '203.0.113.10' }] } } }),
      slc('loc', ['a2', 'a3']),
    );
    const t = (ipAddr: string, port: number) => Array.from({ length: 10 }, () => ({ ip: ipAddr, port, protocol: 'tcp' as const, timeoutMs: 1000 }));
    for (const [addr, port] of [['192.0.2.12', 30081], ['203.0.113.10', 80]] as const) {
      const rs = await outside.probe(t(addr, port));
      assert.ok(rs.every((r) => r.connected && ['a2', 'a3'].includes(identity(r))), `${addr}:${port}: ${JSON.stringify(rs.slice(0, 2))}`);
      for (const r of rs) assert.equal(peerAddr(r), '192.0.2.1', `${addr}:${port}: the endpoint sees the real client`);
    }
    const none = await outside.probe(t('192.0.2.11', 30081).slice(0, 3));
    assert.ok(none.every((r) => !r.connected), 'node-1 has no local endpoint: it does not forward');
    const hc = async (node: string): Promise<{ code: string; body: { localEndpoints: number } }> => {
      const { stdout } = await run('nsenter', [`--net=/run/netns/${lab.state.underlayNetns}`, 'curl', '-s', '-m', '2', '-w', '\n%{http_code}', `http://${node}:32081/`]);
      const [body, code] = stdout.split('\n');
      return { code: code!, body: JSON.parse(body!) as { localEndpoints: number } };
    };
    assert.deepEqual(await hc('192.0.2.12'), { code: '200', body: { service: { namespace: NS, name: 'loc' }, localEndpoints: 2, serviceProxyHealthy: true } });
    assert.equal((await hc('192.0.2.11')).code, '503');
  });

  test('hairpin: a pod reaches itself through its Service', async () => {
    await put(svc('hp', { clusterIP: '10.96.0.15' }), slc('hp', ['a1']));
    const rs = await fromPod('a1', '10.96.0.15', 80, 5);
    assert.ok(rs.every((r) => r.connected && identity(r) === 'a1'), JSON.stringify(rs.slice(0, 2)));
    assert.ok(rs.every((r) => peerAddr(r) !== ip('a1')), 'the hairpin connection is masqueraded');
  });

  test('a UDP stream moves to another endpoint when its endpoint is removed', async () => {
    const ports: EndpointSlice['ports'] = [{ name: '', port: 53, protocol: 'UDP' }];
    await put(svc('dns', { clusterIP: '10.96.0.16', ports: [{ port: 53, protocol: 'UDP', targetPort: 53 }] }), slc('dns', ['a1', 'a2'], ports));
    const stream = udpStream(scope, pods.get('c2')!.netns, '10.96.0.16', 53, { intervalMs: 50, seconds: 4 });
    await sleep(1200);
    const first = stream.answers().at(-1)?.from;
    assert.ok(first === 'a1' || first === 'a2', `the stream is answered (${JSON.stringify(stream.answers().slice(-3))})`);
    const t0 = Date.now();
    await put(slc('dns', [first === 'a1' ? 'a2' : 'a1'], ports));
    const answers = await stream.done;
    const after = answers.filter((a) => a.at > t0 - stream.startedAt + 1000);
    process.stdout.write(`# udp stream: ${answers.length} answers, first ${first}, after removal ${[...new Set(after.map((a) => a.from))].join(',')}\n`);
    assert.ok(after.length > 10, 'the stream continued');
    assert.ok(after.every((a) => a.from !== first), `the removed endpoint ${first} kept answering: ${JSON.stringify(after.slice(0, 3))}`);
  });

  test('lab controller: ClusterIP allocated, slices from the selector (named targetPort), lab probe --service names the endpoint', async () => {
    const pod = (name: string, node: string, port: number) => `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS}, labels: { app: ctl } }\nspec:\n  nodeName: ${node}\n  containers: [{ name: c, ports: [{ name: web, containerPort: ${port} }] }]\n---\n`;
    const svcYaml = `apiVersion: v1\nkind: Service\nmetadata: { name: ctl, namespace: ${NS} }\nspec:\n  selector: { app: ctl }\n  ports: [{ name: http, port: 80, targetPort: web }]\n`;
    await applyYaml(scope, lab, pod('k1', 'node-1', 8080) + pod('k2', 'node-2', 8081) + svcYaml);
    const store = await lab.store();
    const s = await store.get('Service', `${NS}/ctl`);
    assert.match(s?.spec.clusterIP ?? '', /^10\.96\./);
    const slices = (await store.list('EndpointSlice', { namespace: NS })).items.filter((x) => x.metadata.labels?.['kubernetes.io/service-name'] === 'ctl');
    assert.deepEqual(slices.map((x) => x.ports?.[0]?.port).sort(), [8080, 8081], 'one slice per resolved port');
    const rs = await probeService(lab, `${NS}/ctl`, { count: 20, timeoutMs: 2000, namespaces: [NS] });
    assert.ok(rs.length === 20 * (pods.size + 2) && rs.every((r) => r.connected), JSON.stringify(rs.filter((r) => !r.connected).slice(0, 2)));
    // The pod server closes a probe 50 ms after connecting even if no answer came yet (a loaded host).
    const answered = rs.filter((r) => r.endpoint);
    process.stdout.write(`# lab probe --service: ${answered.length}/${rs.length} answered; unanswered from ${JSON.stringify([...new Set(rs.filter((r) => !r.endpoint).map((r) => `${r.from} ${r.detail}`))])}\n`);
    assert.ok(answered.length >= rs.length * 0.9, `${answered.length}/${rs.length} answered`);
    assert.deepEqual(new Set(answered.map((r) => r.endpoint)), new Set([`${NS}/k1`, `${NS}/k2`]));
    // Re-applying keeps the ClusterIP; deleting a pod takes it out of the slices.
    await applyYaml(scope, lab, svcYaml);
    assert.equal((await store.get('Service', `${NS}/ctl`))?.spec.clusterIP, s?.spec.clusterIP);
    const dir = await scope.tmpdir('sv-del-');
    await writeFile(join(dir, 'k2.yaml'), pod('k2', 'node-2', 8081));
    await deleteDocs(lab, await loadManifests([join(dir, 'k2.yaml')]), () => undefined);
    const after = await probeService(lab, `${NS}/ctl`, { count: 10, timeoutMs: 2000, namespaces: [NS] });
    assert.deepEqual(new Set(after.filter((r) => r.endpoint).map((r) => r.endpoint)), new Set([`${NS}/k1`]));
    assert.match(formatServiceProbe(after), /sv\/c1 → 10\.96\.\d+\.\d+:80\/tcp  .*sv\/k1×\d+/);
  });

  test('a Service labelled for another proxy is left alone', async () => {
    await put(svc('theirs', { clusterIP: '10.96.1.17' }, { metadata: { namespace: NS, name: 'theirs', labels: { 'service.kubernetes.io/service-proxy-name': 'other' } } }), slc('theirs', ['a1']));
    const { stdout } = await run('nsenter', [`--net=/run/netns/${lab.node('node-1').netns}`, 'nft', 'list', 'map', 'inet', 'twill-services', 'service_ips_v4']);
    assert.ok(stdout.includes('10.96.0.10 . tcp . 80'), stdout);
    assert.ok(!stdout.includes('10.96.1.17'));
  });
});
