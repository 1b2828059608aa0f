// The Kubernetes smoke test: a 2-node Kubernetes lab (real kube-apiserver, kubelet, containerd,
// runc), Twill installed the operator's way (deploy/twill.yaml) when this checkout has it, else as a
// standalone agent per node. Nodes are Ready only after Twill is up; a Deployment spreads over both
// nodes; pod→pod across nodes and pod→node work; a NetworkPolicy denies, then allows, and the flow
// records (`twill observe --lab`) name the kubelet's pods, their labels and the policy; Twill restarts
// while a TCP stream runs between pods on two nodes, and the stream survives with no route changed.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../src/lab/lab.js';
import { installLabCni, kubectlTarget, nodeHost, upKubeLab, waitNodesReady } from '../../src/lab/kubernetes/cluster.js';
import { deployManifest } from '../../src/lab/kubernetes/install.js';
import { kubectl, kubectlJson } from '../../src/lab/kubernetes/kubectl.js';
import { podNetnsPath, probeInNetns, type KubePod } from '../../src/lab/kubernetes/pods.js';
import { PAUSE_IMAGE } from '../../src/lab/kubernetes/node-runtime.js';
import { startStandaloneAgent } from '../../src/lab/kubernetes/cni-setup.js';
import { stopPidFile, waitFor } from '../../src/lab/processes.js';
import type { LabState } from '../../src/lab/state.js';
import { run } from '../../src/dataplane/kernel/exec.js';
import type { FlowRecord } from '../../src/flows/index.js';
import { twillBin } from '../../src/util/paths.js';
import { applyText, diagnose, echoServer, nodeRoutes, podsByLabel, spreadDeployment, tcpStream } from '../support/kube-lab.js';
import { TestScope } from '../support/scope.js';

const NAME = 'klsmoke';
const scope = new TestScope();
const t0 = Date.now();
// Progress with timestamps, for a person watching a slow run (TWILL_TEST_LOG=FILE).
const log = (l: string): void => {
  if (process.env.TWILL_TEST_LOG) appendFileSync(process.env.TWILL_TEST_LOG, `${((Date.now() - t0) / 1000).toFixed(1)} ${l}\n`);
};
let st: LabState;
const mode = deployManifest() ? 'deploy' : 'standalone';

before(async () => {
  await Lab.down(NAME, () => undefined);
  scope.defer(() => Lab.down(NAME, () => undefined));
  st = await upKubeLab({ name: NAME, nodes: 2, cni: 'twill', install: 'none', pool: '10.244.0.0/16' }, log);
  log('lab up, no CNI');
});
after(() => scope.cleanup());

type NodeList = { items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[] };
const readyNodes = async (): Promise<string[]> =>
  (await kubectlJson<NodeList>(kubectlTarget(st), ['get', 'nodes'])).items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).map((n) => n.metadata.name);

const connects = async (from: KubePod, ip: string, port: number, timeoutMs = 1500): Promise<boolean> => (await probeInNetns(await podNetnsPath(st, from), [{ ip, port, timeoutMs }]))[0]!.ok;

async function onNodes(app: string): Promise<[KubePod, KubePod]> {
  const running = async (): Promise<{ all: KubePod[]; pods: KubePod[] }> => {
    const all = await podsByLabel(st, `app=${app}`);
    return { all, pods: all.filter((p) => p.status.phase === 'Running').sort((a, b) => a.spec.nodeName!.localeCompare(b.spec.nodeName!)) };
  };
  let r = await running();
  if (r.pods.length !== 2) {
    // Not expected (the previous step saw them Running): say so loudly, with the lab's state, and
    // give the cluster a bounded while to settle before asserting.
    console.error(`[smoke] ${app} pods not both Running (${r.all.map((p) => `${p.metadata.name}@${p.spec.nodeName ?? '-'}=${p.status.phase}`).join(' ')}); waiting ≤ 30 s\n${await diagnose(st)}`);
    const until = Date.now() + 30_000;
    while (r.pods.length !== 2 && Date.now() < until) {
      await sleep(500);
      r = await running();
    }
  }
  assert.equal(r.pods.length, 2, `two ${app} pods Running, one per node; found: ${r.all.map((p) => `${p.metadata.name}@${p.spec.nodeName ?? '-'}=${p.status.phase}`).join(' ')}`);
  return [r.pods[0]!, r.pods[1]!];
}

// The steps build on each other: after a failure the rest are skipped (not failed with a
// misleading error), and the failure's message carries the lab's state, since CI shows only the
// end of the output.
let failedStep: string | undefined;
type Step = () => Promise<void>;
function step(t: TestContext, name: string, fn: Step, skip?: string | false): Promise<void> {
  return t.test(name, { skip: skip || (failedStep !== undefined && `an earlier step failed: ${failedStep}`) }, async () => {
    try {
      await fn();
    } catch (e) {
      failedStep = name;
      if (e instanceof Error) e.message = `${e.message}\n--- lab state ---\n${await diagnose(st)}`;
      throw e;
    }
  });
}

test(`kubernetes smoke (Twill installed: ${mode})`, { timeout: 480_000 }, async (t) => {
  await step(t, 'nodes are NotReady until Twill is up, then Ready', async () => {
    const nodes = await kubectlJson<NodeList>(kubectlTarget(st), ['get', 'nodes']);
    assert.equal(nodes.items.length, 2);
    // Longer than the kubelet's status period (2 s): without a CNI the nodes do not turn Ready.
    await sleep(3000);
    assert.deepEqual(await readyNodes(), [], 'no node may be Ready before a CNI is installed');
    const t1 = Date.now();
    await installLabCni(st, log, mode);
    await waitNodesReady(kubectlTarget(st), 2, 180_000);
    log(`Ready ${Date.now() - t1} ms after installing Twill (${mode})`);
  });

  await step(t, 'a Deployment spreads over both nodes; pod→pod across nodes and pod→node', async () => {
    await applyText(st, spreadDeployment('web', 2, PAUSE_IMAGE) + '---\n' + spreadDeployment('client', 2, PAUSE_IMAGE));
    await waitFor('web and client pods Running on both nodes', async () => {
      for (const app of ['web', 'client']) {
        const running = (await podsByLabel(st, `app=${app}`)).filter((p) => p.status.phase === 'Running');
        if (new Set(running.map((p) => p.spec.nodeName)).size !== 2) return false;
      }
      return true;
    }, 180_000, 500);
    log('web and client Running on both nodes');
    const [web1, web2] = await onNodes('web');
    const [client1] = await onNodes('client');
    assert.deepEqual([web1.spec.nodeName, web2.spec.nodeName], ['node-1', 'node-2'], 'one web pod per node');
    for (const p of [web1, web2]) assert.match(p.status.podIP ?? '', /^10\.244\./, `${p.metadata.name} has a pod address from the pool`);
    await echoServer(scope, st, web1, 8080);
    await echoServer(scope, st, web2, 8080);
    assert.ok(await connects(client1, web2.status.podIP!, 8080), 'client on node-1 → web on node-2');
    assert.ok(await connects(client1, web1.status.podIP!, 8080), 'client on node-1 → web on node-1');
    // pod→node: each kubelet listens on its node's underlay address.
    assert.ok(await connects(client1, st.nodes[0]!.underlayIP, 10250), 'pod → its own node');
    assert.ok(await connects(client1, st.nodes[1]!.underlayIP, 10250), 'pod → the other node');
    // A closed port is refused, not "connected": the probe can fail.
    assert.equal(await connects(client1, web2.status.podIP!, 8081), false);
  });

  await step(t, 'a NetworkPolicy denies, then allows', async () => {
    const [, web2] = await onNodes('web');
    const [client1] = await onNodes('client');
    await applyText(st, 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: web, namespace: default }\nspec:\n  podSelector: { matchLabels: { app: web } }\n  policyTypes: [Ingress]\n  ingress: []\n');
    let denied = false;
    for (let i = 0; i < 40 && !denied; i++) denied = !(await connects(client1, web2.status.podIP!, 8080, 500));
    assert.ok(denied, 'ingress to web is denied');
    await applyText(st, 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: web, namespace: default }\nspec:\n  podSelector: { matchLabels: { app: web } }\n  policyTypes: [Ingress]\n  ingress: [{ from: [{ podSelector: { matchLabels: { app: client } } }], ports: [{ port: 8080 }] }]\n');
    let allowed = false;
    for (let i = 0; i < 40 && !allowed; i++) allowed = await connects(client1, web2.status.podIP!, 8080, 500);
    assert.ok(allowed, 'ingress from client on 8080 is allowed');
    await kubectl(kubectlTarget(st), ['delete', 'networkpolicy', 'web']);
  }, mode !== 'deploy' && 'a standalone agent has no datastore to read policies from');

  await step(t, 'flow records name the pods the kubelet ran; `twill observe --lab` reads them from every node', async () => {
    // The connections of the step above: denied while the policy had no rule, then allowed.
    const [, web2] = await onNodes('web');
    const [client1] = await onNodes('client');
    const observe = async (verdict: string): Promise<FlowRecord[]> => {
      const out = await run(process.execPath, [twillBin(), 'observe', '--lab', NAME, '-o', 'json', '--last', '50', '--verdict', verdict, '--from', `default/${client1.metadata.name}`, '--to', `default/${web2.metadata.name}`, '--port', '8080']);
      return out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as FlowRecord);
    };
    const dropped = await observe('DROPPED');
    assert.ok(dropped.length > 0, 'the denied connections were recorded');
    const d = dropped.at(-1)!;
    assert.equal(d.node_name, 'node-2', 'the drop is recorded where the policy isolates web');
    assert.equal(d.traffic_direction, 'INGRESS');
    assert.deepEqual([d.source.namespace, d.source.pod_name, d.source.node_name], ['default', client1.metadata.name, 'node-1']);
    assert.deepEqual([d.destination.namespace, d.destination.pod_name, d.destination.node_name], ['default', web2.metadata.name, 'node-2']);
    for (const [end, pod] of [[d.source, client1], [d.destination, web2]] as const) {
      assert.deepEqual(end.labels, Object.entries(pod.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`).sort(), `${pod.metadata.name}'s labels, as the API has them`);
    }
    assert.deepEqual(d.policies.filter((x) => x.direction === 'ingress').map((x) => `${x.namespace}/${x.name} ${x.action}`), ['default/web deny']);
    const forwarded = await observe('FORWARDED');
    const nodes = new Set(forwarded.filter((r) => r.event === 'new').map((r) => `${r.node_name} ${r.traffic_direction}`));
    assert.deepEqual([...nodes].sort(), ['node-1 EGRESS', 'node-2 INGRESS'], 'the allowed connection is recorded by both nodes');
    log('flow records name the kubelet\'s pods');
  }, mode !== 'deploy' && 'a standalone agent has no datastore: no pod identities, no policies');

  await step(t, '`twill lab logs NODE` shows the DaemonSet pod\'s log: an ADD for a pod the kubelet ran, and setns(2) bound in the image', async () => {
    const [web1] = await onNodes('web');
    const out = (await run(process.execPath, [twillBin(), 'lab', 'logs', '--name', NAME, 'node-1'])).stdout;
    assert.match(out, new RegExp(`ADD .*pod=default/${web1.metadata.name}`), 'the agent logged the ADD of a pod on node-1');
    // The image must carry koffi's native module; without it every ADD runs `ip` in the pod's namespace.
    assert.doesNotMatch(out, /koffi could not bind setns/);
  }, mode !== 'deploy' && 'a standalone agent logs to a file beside the node, not through the kubelet');

  await step(t, 'Twill restarts while a TCP stream runs between pods on two nodes: the stream survives, no route changes', async () => {
    const [, web2] = await onNodes('web');
    const [client1] = await onNodes('client');
    const routesBefore = await Promise.all(st.nodes.map((n) => nodeRoutes(n.netns)));
    const stream = await tcpStream(scope, st, client1, web2.status.podIP!, 8080);
    await sleep(500);
    const before = stream.got();
    assert.ok(before > 5, `the stream flows before the restart (${before} echoes)`);
    if (mode === 'deploy') {
      const ds = (await kubectlJson<{ items: { metadata: { name: string; namespace: string } }[] }>(kubectlTarget(st), ['get', 'daemonsets', '-A', '-l', 'app.kubernetes.io/name=twill'])).items[0];
      assert.ok(ds, 'Twill runs as a DaemonSet');
      const before = (await podsByLabel(st, 'app.kubernetes.io/name=twill', ds.metadata.namespace)).map((p) => p.metadata.uid).sort();
      await kubectl(kubectlTarget(st), ['-n', ds.metadata.namespace, 'rollout', 'restart', `daemonset/${ds.metadata.name}`]);
      await kubectl(kubectlTarget(st), ['-n', ds.metadata.namespace, 'rollout', 'status', `daemonset/${ds.metadata.name}`, '--timeout=180s'], { timeoutMs: 190_000 });
      const after = (await podsByLabel(st, 'app.kubernetes.io/name=twill', ds.metadata.namespace)).map((p) => p.metadata.uid);
      assert.ok(after.length === 2 && after.every((u) => !before.includes(u)), 'every Twill pod was replaced');
      log('Twill DaemonSet rolled out again');
    } else {
      // The standalone agents are restarted one node after the other, as a rolling update would.
      for (const n of st.nodes) {
        const h = nodeHost(st.name, n.name);
        await stopPidFile(`${h.dir}/twill-agent.pid`, 5000);
        await startStandaloneAgent(h, st.kubernetes!.podCidrs[n.name]!);
      }
    }
    const at = stream.got();
    await sleep(1000);
    assert.equal(stream.failure(), undefined, 'the stream was not interrupted');
    assert.ok(stream.got() > at, `echoes keep coming after the restart (${at} → ${stream.got()})`);
    const routesAfter = await Promise.all(st.nodes.map((n) => nodeRoutes(n.netns)));
    assert.deepEqual(routesAfter, routesBefore, 'no route changed on either node');
  });
});
