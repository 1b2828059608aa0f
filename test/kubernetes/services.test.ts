// Services without kube-proxy in a real cluster: a 2-node Kubernetes lab brought up with no
// kube-proxy (`lab up --kubernetes --no-kube-proxy`), Twill installed from deploy/twill.yaml with
// kubeProxyReplacement on. The API's own controllers write the EndpointSlices; Twill's agents
// read them through the kubernetes datastore. Checked: a ClusterIP reaches endpoints on both nodes
// from a pod (and a pod reaches itself through it), the `kubernetes` Service reaches the
// apiserver, a NodePort answers from the underlay namespace (outside the cluster), a Service with
// no endpoints is refused at once, the healthCheckNodePort counts local endpoints, NetworkPolicy
// applies to the endpoint after translation (and `policy explain svc/…` says so), and the
// endpoints follow a scale-down.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { run } from '../../src/dataplane/kernel/exec.js';
import { DEFAULT_AGENT_SOCKET } from '../../src/dataplane/kernel/names.js';
import { agentRequest } from '../../src/cli/client.js';
import { Lab } from '../../src/lab/lab.js';
import { kubectlTarget, nodeHost, upKubeLab } from '../../src/lab/kubernetes/cluster.js';
import { kubectl, kubectlJson } from '../../src/lab/kubernetes/kubectl.js';
import { hostPath } from '../../src/lab/kubernetes/node-host.js';
import { PAUSE_IMAGE } from '../../src/lab/kubernetes/node-runtime.js';
import { podNetnsPath, probeInNetns, type KubePod } from '../../src/lab/kubernetes/pods.js';
import { probeKubeService } from '../../src/lab/kubernetes/service-probe.js';
import { waitFor } from '../../src/lab/processes.js';
import type { LabState } from '../../src/lab/state.js';
import { applyText, echoServer, podsByLabel, spreadDeployment } from '../support/kube-lab.js';
import { TestScope } from '../support/scope.js';

const NAME = 'klsvc';
const scope = new TestScope();
const t0 = Date.now();
const log = (l: string): void => {
  if (process.env.TWILL_TEST_LOG) appendFileSync(process.env.TWILL_TEST_LOG, `${((Date.now() - t0) / 1000).toFixed(1)} ${l}\n`);
};
let st: LabState;

before(async () => {
  await Lab.down(NAME, () => undefined);
  scope.defer(() => Lab.down(NAME, () => undefined));
  st = await upKubeLab({ name: NAME, nodes: 2, cni: 'twill', install: 'deploy', pool: '10.244.0.0/16', kubeProxy: false }, log);
  log('lab up without kube-proxy');
});
after(() => scope.cleanup());

const SERVICES = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  type: NodePort
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }]
---
apiVersion: v1
kind: Service
metadata: { name: web-lb, namespace: default }
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: empty, namespace: default }
spec:
  selector: { app: nobody }
  ports: [{ port: 80, targetPort: 8080 }]
`;

const policy = (ingress: string): string =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: web, namespace: default }\nspec:\n  podSelector: { matchLabels: { app: web } }\n  policyTypes: [Ingress]\n  ingress: ${ingress}\n`;

const clusterIP = async (name: string): Promise<string> => (await kubectlJson<{ spec: { clusterIP: string } }>(kubectlTarget(st), ['get', 'service', name])).spec.clusterIP;
const running = async (app: string): Promise<KubePod[]> => (await podsByLabel(st, `app=${app}`)).filter((p) => p.status.phase === 'Running').sort((a, b) => a.spec.nodeName!.localeCompare(b.spec.nodeName!));
const connect = async (netns: string, ip: string, port: number, timeoutMs = 1500): Promise<{ ok: boolean; d?: string }> => (await probeInNetns(netns, [{ ip, port, timeoutMs }]))[0]!;

/** HTTP status of GET http://ip:port/ from the underlay namespace (outside the cluster). */
async function httpStatus(ip: string, port: number): Promise<number> {
  const script = `require('node:http').get({host:process.argv[1],port:Number(process.argv[2]),timeout:2000},(r)=>{console.log(r.statusCode);r.resume()}).on('error',(e)=>console.log(e.code||'error'))`;
  const r = await run('nsenter', [`--net=/run/netns/${st.underlayNetns}`, '--', process.execPath, '-e', script, ip, String(port)], { timeoutMs: 10_000 });
  return Number(r.stdout.trim());
}

/** Answered connections per endpoint pod, from the client pods only (lab probe --service). */
async function spread(service: string, count: number): Promise<{ endpoints: Map<string, number>; failed: number }> {
  const rs = (await probeKubeService(st, service, { count, timeoutMs: 1500 })).filter((r) => r.from.startsWith('default/client-'));
  const endpoints = new Map<string, number>();
  for (const r of rs) if (r.endpoint) endpoints.set(r.endpoint, (endpoints.get(r.endpoint) ?? 0) + 1);
  return { endpoints, failed: rs.filter((r) => !r.connected).length };
}

test('Services without kube-proxy on a Kubernetes lab', { timeout: 420_000 }, async (t) => {
  let web: KubePod[] = [];
  let client: KubePod[] = [];

  await t.test('a ClusterIP reaches endpoints on both nodes; a pod reaches itself; the kubernetes Service reaches the apiserver', async () => {
    const kp = await run('ip', ['netns', 'pids', st.nodes[0]!.netns]);
    const comms = await Promise.all(kp.stdout.trim().split('\n').filter(Boolean).map((pid) => run('cat', [`/proc/${pid}/comm`]).then((r) => r.stdout.trim(), () => '')));
    assert.ok(!comms.includes('kube-proxy'), 'no kube-proxy runs on node-1');
    await applyText(st, `${spreadDeployment('web', 2, PAUSE_IMAGE)}---\n${spreadDeployment('client', 2, PAUSE_IMAGE)}---\n${SERVICES}`);
    await waitFor('web and client pods Running on both nodes', async () => (await running('web')).length === 2 && (await running('client')).length === 2, 180_000, 500);
    web = await running('web');
    client = await running('client');
    assert.deepEqual(web.map((p) => p.spec.nodeName), ['node-1', 'node-2'], 'one web pod per node');
    for (const p of web) await echoServer(scope, st, p, 8080);
    log('pods Running, echo servers up');
    const t1 = Date.now();
    await waitFor('the ClusterIP answers from a pod', async () => (await connect(await podNetnsPath(st, client[0]!), await clusterIP('web'), 80, 500)).ok, 60_000, 250);
    log(`ClusterIP answers ${Date.now() - t1} ms after the echo servers started`);
    const { endpoints, failed } = await spread('default/web', 20);
    assert.equal(failed, 0, 'every connection to the ClusterIP succeeds');
    assert.deepEqual([...endpoints.keys()].sort(), web.map((p) => `default/${p.metadata.name}`).sort(), `both endpoints answer (${JSON.stringify([...endpoints])})`);
    const self = await probeKubeService(st, 'default/web', { count: 10, timeoutMs: 1500 });
    assert.ok(self.filter((r) => r.from.startsWith('default/web-')).every((r) => r.connected), 'hairpin: a web pod reaches the Service it backs (itself included)');
    const api = await connect(await podNetnsPath(st, client[1]!), await clusterIP('kubernetes'), 443);
    assert.ok(api.ok, `a pod reaches the apiserver through the kubernetes Service (${api.d ?? ''})`);
  });

  await t.test('a NodePort answers from outside the cluster; a Service with no endpoints is refused at once', async () => {
    const ul = `/run/netns/${st.underlayNetns}`;
    for (const n of st.nodes) {
      const r = await connect(ul, n.underlayIP, 30080);
      assert.ok(r.ok, `NodePort 30080 on ${n.name} (${n.underlayIP}) from the underlay: ${r.d ?? ''}`);
    }
    const from = await podNetnsPath(st, client[0]!);
    const ip = await clusterIP('empty');
    await waitFor('the empty Service is refused', async () => (await connect(from, ip, 80, 3000)).d === 'ECONNREFUSED', 30_000, 250);
    const t1 = performance.now();
    const r = await connect(from, ip, 80, 3000);
    const ms = performance.now() - t1;
    assert.equal(r.d, 'ECONNREFUSED', 'refused (TCP reset), not left to time out');
    assert.ok(ms < 1500, `refused within ${ms.toFixed(0)} ms (a probe process start included)`);
  });

  await t.test('the healthCheckNodePort counts local endpoints', async () => {
    const hc = (await kubectlJson<{ spec: { healthCheckNodePort?: number } }>(kubectlTarget(st), ['get', 'service', 'web-lb'])).spec.healthCheckNodePort;
    assert.ok(hc, 'the apiserver allocated a healthCheckNodePort');
    await waitFor('every node answers 200 on the healthCheckNodePort', async () => (await Promise.all(st.nodes.map((n) => httpStatus(n.underlayIP, hc)))).every((s) => s === 200), 30_000, 250);
  });

  await t.test('NetworkPolicy applies to the endpoint after translation; policy explain svc/… names each endpoint', async () => {
    const from = await podNetnsPath(st, client[0]!);
    const ip = await clusterIP('web');
    const sock = hostPath(nodeHost(st.name, client[0]!.spec.nodeName!), DEFAULT_AGENT_SOCKET);
    const explainWeb = () => agentRequest<{ verdict: { allowed: boolean; endpoints: { ip: string; verdict: { allowed: boolean } }[] }; text: string }>(sock, 'POST', '/v1/policy/explain', { from: `default/${client[0]!.metadata.name}`, to: 'svc/default/web', port: 80, protocol: 'tcp' });
    const through = async (want: boolean): Promise<void> => {
      await waitFor(`connections through the ClusterIP ${want ? 'allowed' : 'denied'}`, async () => {
        const rs = await probeInNetns(from, Array.from({ length: 6 }, () => ({ ip, port: 80, timeoutMs: 500 })));
        return rs.every((r) => r.ok === want);
      }, 30_000, 250);
    };
    // Allowing the Service's port (80) is not allowing the endpoint's (8080): policy sees 8080.
    await applyText(st, policy('[{ from: [{ podSelector: { matchLabels: { app: client } } }], ports: [{ port: 80 }] }]'));
    await through(false);
    const denied = await explainWeb();
    assert.equal(denied.verdict.allowed, false);
    assert.deepEqual(denied.verdict.endpoints.map((e) => e.ip).sort(), web.map((p) => p.status.podIP!).sort(), 'explain names both endpoints');
    assert.match(denied.text, /DENIED {2}svc\/default\/web .*→ 2 endpoints/);
    await applyText(st, policy('[{ from: [{ podSelector: { matchLabels: { app: client } } }], ports: [{ port: 8080 }] }]'));
    await through(true);
    const allowed = await explainWeb();
    assert.ok(allowed.verdict.allowed && allowed.verdict.endpoints.every((e) => e.verdict.allowed), allowed.text);
    await kubectl(kubectlTarget(st), ['delete', 'networkpolicy', 'web']);
  });

  await t.test('endpoints follow a scale-down', async () => {
    await kubectl(kubectlTarget(st), ['scale', 'deployment', 'web', '--replicas=1']);
    const t1 = Date.now();
    let left = '';
    await waitFor('every connection lands on the one web pod left', async () => {
      const pods = await running('web');
      if (pods.length !== 1) return false;
      left = `default/${pods[0]!.metadata.name}`;
      const { endpoints, failed } = await spread('default/web', 10);
      return failed === 0 && endpoints.size === 1 && endpoints.has(left);
    }, 60_000, 250);
    log(`endpoints followed the scale-down in ${Date.now() - t1} ms (to ${left})`);
    const hc = (await kubectlJson<{ spec: { healthCheckNodePort: number } }>(kubectlTarget(st), ['get', 'service', 'web-lb'])).spec.healthCheckNodePort;
    const node = (await running('web'))[0]!.spec.nodeName;
    await waitFor('the healthCheckNodePort is 200 only on the node with the endpoint', async () => {
      const codes = await Promise.all(st.nodes.map((n) => httpStatus(n.underlayIP, hc)));
      return st.nodes.every((n, i) => codes[i] === (n.name === node ? 200 : 503));
    }, 30_000, 250);
  });
});
