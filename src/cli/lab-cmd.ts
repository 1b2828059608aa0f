// `twill lab …`: a whole cluster network on this host, in network namespaces.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { applyDocs, deleteDocs, ensureDefaultNamespace } from '../lab/apply.js';
import { formatServiceProbe, probeService } from '../lab/services/probe.js';
import { BENCH_DEFAULTS, runBench } from '../lab/bench.js';
import { formatBench } from '../lab/bench-report.js';
import { formatWireguardBench, runWireguardBench } from '../lab/bench-wireguard.js';
import { labDemo } from '../lab/demo.js';
import { getNodes, getPods, getPolicies } from '../lab/get.js';
import { LabKubelet } from '../lab/kubelet.js';
import { LAB_DEFAULTS, Lab } from '../lab/lab.js';
import { loadManifests } from '../lab/manifest.js';
import { formatMatrix, probeLab } from '../lab/probe.js';
import { listLabs, loadLab, nodeDir, resolveLab, validateLabName } from '../lab/state.js';
import { describeError } from '../util/errors.js';
import { KUBE_LAB_DEFAULTS, kubectlTarget, upKubeLab } from '../lab/kubernetes/cluster.js';
import { kubectl, kubectlInteractive } from '../lab/kubernetes/kubectl.js';
import { getPod, podNetnsPath, probeKubeLab } from '../lab/kubernetes/pods.js';
import { kubeLogFile } from '../lab/kubernetes/logs.js';
import { probeKubeService } from '../lab/kubernetes/service-probe.js';
import { runControlPlaneHost } from '../lab/kubernetes/control-plane-host.js';
import type { LabState } from '../lab/state.js';
import { isBackendName } from '../dataplane/routing/registry.js';
import type { BackendName, EncryptionMode } from '../model/types.js';
import { agentRequest } from './client.js';

const print = (s: string) => console.log(s);

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`"${v}" is not an integer`);
  return n;
}

/** Runs a lab action; errors become one clear line on stderr and exit status 1. */
function action<A extends unknown[]>(name: string, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      console.error(`twill lab ${name}: ${describeError(e)}`);
      process.exitCode = 1;
    }
  };
}

async function withLab(name: string | undefined, fn: (lab: Lab) => Promise<void>): Promise<void> {
  const st = await resolveLab(name);
  if (st.kubernetes) throw new Error(`lab ${st.name} is a Kubernetes lab: this command works on etcd labs; use \`twill lab kubectl -- …\``);
  const lab = await Lab.open(st);
  try {
    await fn(lab);
  } finally {
    await lab.close();
  }
}

const nameOpt = () => new Option('--name <name>', 'lab name (default: the one lab that is up)');
const outputOpt = (choices: string[]) => new Option('-o, --output <format>', 'output format').choices(choices);

export function registerLab(program: Command): void {
  const lab = program.command('lab').description('a whole cluster network on this host, in network namespaces');

  lab
    .command('up')
    .description('bring up (or repair) a lab: underlay, nodes running real agents, etcd')
    .option('--nodes <n>', 'number of nodes', int, LAB_DEFAULTS.nodes)
    .option('--backend <name>', 'vxlan | host-gw', LAB_DEFAULTS.backend)
    .option('--direct-routing', 'vxlan: plain routes between nodes on the same segment')
    .option('--encryption <mode>', 'none | wireguard: encrypt pod traffic between nodes (on a running lab: switches it)')
    .option('--pool <cidr>', 'pod address pool', LAB_DEFAULTS.pool)
    .option('--lease-ttl <seconds>', 'node liveness lease', int, LAB_DEFAULTS.leaseTtlSeconds)
    .option('--block-grace <seconds>', 'how long a dead node keeps its blocks', int, LAB_DEFAULTS.blockGraceSeconds)
    .option('--name <name>', 'lab name', 'lab')
    .option('--kubernetes', 'a real Kubernetes cluster: kube-apiserver, controllers, scheduler; containerd, runc and kubelet per node')
    .addOption(new Option('--cni <cni>', 'with --kubernetes: what wires pods (bridge = the reference bridge + host-local plugins)').choices(['twill', 'bridge']).default(KUBE_LAB_DEFAULTS.cni))
    .addOption(new Option('--install <how>', 'with --kubernetes --cni twill: kubectl apply -f deploy/twill.yaml, or a standalone agent per node').choices(['auto', 'deploy', 'standalone', 'none']).default(KUBE_LAB_DEFAULTS.install))
    .option('--no-kube-proxy', 'with --kubernetes: run no kube-proxy; Twill serves Services (installed with kubeProxyReplacement: true)')
    .option('--no-flow-records', 'agents record no flows (twill observe and twill ui show nothing)')
    .action(
      action('up', async (o: { nodes: number; backend: string; directRouting?: boolean; pool: string; leaseTtl: number; blockGrace: number; name: string; encryption?: string; kubernetes?: boolean; cni: 'twill' | 'bridge'; install: 'auto' | 'deploy' | 'standalone' | 'none'; flowRecords: boolean; kubeProxy: boolean }) => {
        if (!isBackendName(o.backend)) throw new Error(`--backend must be vxlan or host-gw, got "${o.backend}"`);
        if (o.encryption !== undefined && o.encryption !== 'none' && o.encryption !== 'wireguard') throw new Error(`--encryption must be none or wireguard, got "${o.encryption}"`);
        if (o.nodes < 1 || o.nodes > 50) throw new Error('--nodes must be between 1 and 50');
        const t0 = Date.now();
        if (o.kubernetes) {
          print(`lab ${o.name}: bringing up a Kubernetes cluster of ${o.nodes} node(s), CNI ${o.cni}, pool ${o.pool}${o.kubeProxy ? '' : ', no kube-proxy (Twill serves Services)'}`);
          const st = await upKubeLab({ name: o.name, nodes: o.nodes, cni: o.cni, install: o.install, pool: o.pool, kubeProxy: o.kubeProxy }, print);
          print('');
          print((await kubectl(kubectlTarget(st), ['get', 'nodes', '-o', 'wide'])).stdout.trimEnd());
          print(`lab ${o.name} is up (${((Date.now() - t0) / 1000).toFixed(1)} s). Next: twill lab kubectl -- get pods -A; twill lab apply -f FILE; twill lab probe`);
          return;
        }
        print(`lab ${o.name}: bringing up ${o.nodes} node(s), backend ${o.backend}${o.directRouting ? ' (direct routing)' : ''}${o.encryption === 'wireguard' ? ', encrypted (WireGuard)' : ''}, pool ${o.pool}`);
        const l = await Lab.up({ name: o.name, nodes: o.nodes, backend: o.backend as BackendName, directRouting: o.directRouting ?? false, pool: o.pool, leaseTtlSeconds: o.leaseTtl, blockGraceSeconds: o.blockGrace, ...(o.flowRecords ? {} : { agentFlags: ['--no-flow-records'] }), ...(o.encryption ? { encryption: o.encryption as EncryptionMode } : {}) }, print);
        try {
          await ensureDefaultNamespace(await l.store());
          print('');
          print(await getNodes(l, 'text'));
          print(`lab ${o.name} is up (${((Date.now() - t0) / 1000).toFixed(1)} s). Next: twill lab apply -f examples/lab/pods.yaml; twill lab probe`);
        } finally {
          await l.close();
        }
      }),
    );

  lab
    .command('down')
    .description('remove every namespace, link, process and file the lab created')
    .addOption(nameOpt())
    .option('--all', 'every lab on this host')
    .action(
      action('down', async (o: { name?: string; all?: boolean }) => {
        // A named lab is removed by its name alone: after a crash its lab.json may be gone while its
        // namespaces, processes, mounts and cgroups are not.
        const names = o.all ? await listLabs() : [o.name ? validateLabName(o.name) : (await resolveLab(undefined)).name];
        for (const n of names) await Lab.down(n, print);
      }),
    );

  lab.command('list').description('labs on this host').action(
    action('list', async () => {
      for (const n of await listLabs()) {
        const s = await loadLab(n);
        if (s?.kubernetes) print(`${n}  ${s.nodes.length} nodes  kubernetes ${s.kubernetes.url}  cni ${s.kubernetes.cni}${s.kubernetes.install ? ` (${s.kubernetes.install})` : ''}  since ${s.createdAt}`);
        else print(s ? `${n}  ${s.nodes.length} nodes  backend ${s.backend}  pool ${s.pool}  since ${s.createdAt}` : n);
      }
    }),
  );

  lab
    .command('get')
    .description('list nodes, pods or networkpolicies')
    .argument('<what>', 'nodes | pods | networkpolicies (netpol)')
    .addOption(nameOpt())
    .addOption(outputOpt(['text', 'wide', 'json']).default('text'))
    .action(
      action('get', async (what: string, o: { name?: string; output: 'text' | 'wide' | 'json' }) => {
        const st = await resolveLab(o.name);
        if (st.kubernetes) {
          const out = o.output === 'text' ? [] : ['-o', o.output];
          print((await kubectl(kubectlTarget(st), ['get', what, ...(/^(nodes?|no)$/.test(what) ? [] : ['-A']), ...out])).stdout.trimEnd());
          return;
        }
        await withLab(o.name, async (l) => {
          if (/^(nodes?|no)$/.test(what)) print(await getNodes(l, o.output));
          else if (/^(pods?|po)$/.test(what)) print(await getPods(l, o.output));
          else if (/^(networkpolic(y|ies)|netpol)$/.test(what)) print(await getPolicies(l, o.output));
          else throw new Error(`cannot get "${what}": use nodes, pods or networkpolicies`);
        });
      }),
    );

  for (const verb of ['apply', 'delete'] as const) {
    lab
      .command(verb)
      .description(verb === 'apply' ? 'create or update Namespaces, Pods, NetworkPolicies, Services and EndpointSlices from YAML' : 'delete what the YAML names')
      .requiredOption('-f, --filename <path...>', 'YAML files or directories')
      .addOption(nameOpt())
      .action(
        action(verb, async (o: { filename: string[]; name?: string }) => {
          const st = await resolveLab(o.name);
          if (st.kubernetes) {
            print((await kubectl(kubectlTarget(st), [verb, ...o.filename.flatMap((f) => ['-f', f])])).stdout.trimEnd());
            return;
          }
          const docs = await loadManifests(o.filename);
          await withLab(o.name, (l) => (verb === 'apply' ? applyDocs(l, docs, print) : deleteDocs(l, docs, print)));
        }),
      );
  }

  lab
    .command('exec')
    .description('run a command inside a pod\'s network namespace: lab exec NS/POD -- CMD…')
    .argument('<pod>', 'NAMESPACE/POD (or POD in default)')
    .argument('<command...>', 'command and arguments')
    .addOption(nameOpt())
    .action(
      action('exec', async (pod: string, cmd: string[], o: { name?: string }) => {
        const st = await resolveLab(o.name);
        if (st.kubernetes) {
          const [ns, name] = pod.includes('/') ? pod.split('/', 2) : ['default', pod];
          const path = await podNetnsPath(st, await getPod(st, ns!, name!));
          const child = spawn('nsenter', [`--net=${path}`, '--', ...cmd], { stdio: 'inherit' });
          process.exitCode = await new Promise<number>((r) => child.on('close', (c) => r(c ?? 1)));
          return;
        }
        await withLab(o.name, async (l) => {
          const [ns, name] = pod.includes('/') ? pod.split('/', 2) : ['default', pod];
          const rec = await new LabKubelet(l).record(ns!, name!);
          if (!rec) throw new Error(`no pod ${ns}/${name} in lab ${l.name} (see \`twill lab get pods\`)`);
          const child = spawn('ip', ['netns', 'exec', rec.netns, ...cmd], { stdio: 'inherit' });
          process.exitCode = await new Promise<number>((r) => child.on('close', (c) => r(c ?? 1)));
        });
      }),
    );

  lab
    .command('logs')
    .description('the agent log of a node')
    .argument('<node>', 'node name, e.g. node-1')
    .addOption(nameOpt())
    .option('-f, --follow', 'keep printing as the log grows')
    .addOption(new Option('--component <name>', 'Kubernetes lab: twill | kubelet | containerd | kube-proxy').choices(['twill', 'kubelet', 'containerd', 'kube-proxy']).default('twill'))
    .action(
      action('logs', async (node: string, o: { name?: string; follow?: boolean; component: 'twill' | 'kubelet' | 'containerd' | 'kube-proxy' }) => {
        const s = await resolveLab(o.name);
        if (!s.nodes.some((n) => n.name === node)) throw new Error(`lab ${s.name} has no node "${node}" (${s.nodes.map((n) => n.name).join(', ')})`);
        const file = s.kubernetes ? await kubeLogFile(s, node, o.component) : join(nodeDir(s.name, node), 'agent.log');
        if (o.follow) {
          const child = spawn('tail', ['-n', '+1', '-F', file], { stdio: 'inherit' });
          await new Promise((r) => child.on('close', r));
        } else process.stdout.write(await readFile(file, 'utf8'));
      }),
    );

  lab
    .command('probe')
    .description('every pod tries every pod on every declared port; prints the reachability matrix')
    .option('--port <port...>', 'probe these ports (default: each pod\'s declared containerPorts)')
    .addOption(new Option('--protocol <protocol...>', 'tcp and/or udp').choices(['tcp', 'udp']))
    .option('--timeout <ms>', 'per-connection timeout', int, 1000)
    .option('--namespace <ns...>', 'only pods in these namespaces')
    .option('--service <ns/name>', 'connect to this Service\'s ClusterIP ports instead, and say which endpoint answered')
    .option('--count <n>', 'with --service: connections per pod and port', int, 10)
    .addOption(nameOpt())
    .addOption(outputOpt(['text', 'json']).default('text'))
    .action(
      action('probe', async (o: { port?: string[]; protocol?: ('tcp' | 'udp')[]; timeout: number; namespace?: string[]; service?: string; count: number; name?: string; output: string }) => {
        const st = await resolveLab(o.name);
        if (st.kubernetes) {
          if (o.protocol?.includes('udp')) throw new Error('a Kubernetes lab probes TCP only');
          if (o.service) {
            const results = await probeKubeService(st, o.service, { count: o.count, timeoutMs: o.timeout, namespaces: o.namespace });
            print(o.output === 'json' ? JSON.stringify({ results }, null, 1) : formatServiceProbe(results) || 'no running pods to probe from');
            return;
          }
          const results = await probeKubeLab(st, { ports: o.port?.map(int), timeoutMs: o.timeout, namespaces: o.namespace });
          if (o.output === 'json') print(JSON.stringify({ results }, null, 1));
          else print(results.length ? formatMatrix(results) : 'no running pods with TCP containerPorts to probe');
          return;
        }
        await withLab(o.name, async (l) => {
          if (o.service) {
            const results = await probeService(l, o.service, { count: o.count, timeoutMs: o.timeout, namespaces: o.namespace });
            print(o.output === 'json' ? JSON.stringify({ results }, null, 1) : formatServiceProbe(results) || 'no pods to probe from');
            return;
          }
          const results = await probeLab(l, { ports: o.port?.map(int), protocols: o.protocol, timeoutMs: o.timeout, namespaces: o.namespace });
          if (o.output === 'json') print(JSON.stringify({ results }, null, 1));
          else print(results.length ? formatMatrix(results) : 'no pods with ports to probe (apply some with `twill lab apply -f`)');
        });
      }),
    );

  lab
    .command('kubectl')
    .description('kubectl against a Kubernetes lab (admin): twill lab kubectl -- get pods -A')
    .argument('[args...]', 'kubectl arguments (after --)')
    .addOption(nameOpt())
    .action(
      action('kubectl', async (args: string[], o: { name?: string }) => {
        process.exitCode = await kubectlInteractive(kubectlTarget(await resolveLab(o.name)), args);
      }),
    );

  lab
    .command('control-plane-host', { hidden: true })
    .description('a Kubernetes lab\'s cluster DNS and routes to pods in the control plane\'s namespace (started by lab up)')
    .requiredOption('--kubeconfig <file>', 'admin kubeconfig')
    .requiredOption('--listen <ip>', 'address to answer on (port 53, UDP and TCP)')
    .action(
      action('control-plane-host', async (o: { kubeconfig: string; listen: string }) => {
        const dns = await runControlPlaneHost(o);
        await new Promise<void>((resolve) => {
          for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void dns.close().finally(resolve));
        });
      }),
    );

  lab
    .command('kubeconfig')
    .description('where the admin kubeconfig of a Kubernetes lab is, and how to use it')
    .addOption(nameOpt())
    .action(
      action('kubeconfig', async (o: { name?: string }) => {
        const st: LabState = await resolveLab(o.name);
        const t = kubectlTarget(st);
        print(t.kubeconfig);
        console.error(`# the apiserver (${st.kubernetes!.url}) is reachable from the lab's underlay namespace:`);
        console.error(`#   nsenter --net=/run/netns/${t.netns} kubectl --kubeconfig ${t.kubeconfig} get nodes`);
      }),
    );

  lab
    .command('backend')
    .description('switch the routing backend of a running lab (pods keep running)')
    .argument('<backend>', 'vxlan | host-gw')
    .option('--direct-routing', 'vxlan: plain routes between nodes on the same segment')
    .addOption(nameOpt())
    .action(
      action('backend', async (b: string, o: { directRouting?: boolean; name?: string }) => {
        if (!isBackendName(b)) throw new Error(`backend must be vxlan or host-gw, got "${b}"`);
        await withLab(o.name, async (l) => {
          await l.setBackend(b, o.directRouting ?? false, print);
          await l.waitConverged();
          print(await getNodes(l, 'wide'));
        });
      }),
    );

  lab
    .command('rotate-key')
    .description('give a lab node a new WireGuard key pair (twill encryption rotate-key on that node)')
    .argument('<node>', 'node name, e.g. node-1')
    .addOption(nameOpt())
    .action(
      action('rotate-key', async (n: string, o: { name?: string }) => {
        await withLab(o.name, async (l) => {
          const r = await agentRequest<{ publicKey: string; previous: string }>(l.socket(n), 'POST', '/v1/encryption/rotate-key', {}, 15_000);
          print(`${n}: new public key ${r.publicKey} (was ${r.previous})`);
        });
      }),
    );

  lab
    .command('datastore')
    .description('stop or start the lab\'s etcd (to see the datapath carry on without it)')
    .argument('<action>', 'stop | start')
    .addOption(nameOpt())
    .action(
      action('datastore', async (a: string, o: { name?: string }) => {
        await withLab(o.name, async (l) => {
          if (a === 'stop') await l.stopEtcd();
          else if (a === 'start') await l.startEtcd();
          else throw new Error(`action must be stop or start, got "${a}"`);
          print(`lab ${l.name}: etcd ${a === 'stop' ? 'stopped' : 'started'}`);
        });
      }),
    );

  const node = lab.command('node').description('add, remove, stop or start a lab node');
  node.command('add').description('add node-(N+1)').addOption(nameOpt()).action(
    action('node add', async (o: { name?: string }) => {
      await withLab(o.name, async (l) => {
        const n = await l.addNode(print);
        await l.waitConverged();
        print(`${n} joined; every node has its routes`);
      });
    }),
  );
  node.command('remove').argument('<node>').description('stop the node\'s agent and remove the node').addOption(nameOpt()).action(
    action('node remove', async (n: string, o: { name?: string }) => {
      await withLab(o.name, async (l) => {
        await l.removeNode(n);
        print(`${n} removed; peers withdraw its routes when its lease expires (${l.state.leaseTtlSeconds} s)`);
      });
    }),
  );
  node.command('stop').argument('<node>').description('stop the node\'s agent (the datapath stays)').option('--kill', 'SIGKILL instead of SIGTERM').addOption(nameOpt()).action(
    action('node stop', async (n: string, o: { name?: string; kill?: boolean }) => {
      await withLab(o.name, async (l) => l.stopAgent(n, o.kill ? 'SIGKILL' : 'SIGTERM'));
    }),
  );
  node.command('start').argument('<node>').description('start the node\'s agent again').addOption(nameOpt()).action(
    action('node start', async (n: string, o: { name?: string }) => {
      await withLab(o.name, async (l) => {
        print(`agent on ${n}: pid ${await l.startAgent(n)}`);
      });
    }),
  );

  lab
    .command('bench')
    .description('pod→pod iperf3 throughput: Twill vs the same datapath wired by hand vs the raw underlay, per backend, interleaved')
    .addHelpText(
      'after',
      [
        '',
        'Each backend gets a 2-node Twill lab (<name>tv, <name>th) and the same topology wired by hand with',
        'ip/bridge/nft in namespaces twl-<name>kv-*, twl-<name>kh-* (pods wired as Twill wires them; a NAT',
        "table equivalent to Twill's natOutgoing, so both paths do conntrack; not Twill's policy table, whose",
        'cost is part of what is measured). Runs interleave twill, kernel, underlay per repeat, every second',
        'round in reverse order; medians are reported, and the floor is on the median of the per-repeat',
        'twill/kernel ratios: >= 0.97.',
        'Everything it creates is removed at the end.',
        '-o json prints one JSON array with one object per backend, in --backend order.',
      ].join('\n'),
    )
    .option('--backend <name...>', 'vxlan and/or host-gw; or wireguard alone: encrypted vs plain vxlan throughput, CPU per Gbit, and 20 node joins (tunnel up after the node record)', BENCH_DEFAULTS.backends)
    .option('--joins <n>', 'wireguard: node joins to time', int, 20)
    .option('--duration <seconds>', 'length of each iperf3 run', int, BENCH_DEFAULTS.durationSeconds)
    .option('--repeats <n>', 'runs per path (medians are reported)', int, BENCH_DEFAULTS.repeats)
    .option('--name <name>', 'prefix of the labs and namespaces it creates (≤10 chars); they are removed at the end', BENCH_DEFAULTS.name)
    .addOption(outputOpt(['text', 'json']).default('text'))
    .action(
      action('bench', async (o: { backend: string[]; duration: number; repeats: number; name: string; joins: number; output: 'text' | 'json' }) => {
        if (o.backend.includes('wireguard')) {
          if (o.backend.length > 1) throw new Error('--backend wireguard runs alone (it compares itself with vxlan in the same run)');
          const r = await runWireguardBench({ name: o.name, durationSeconds: o.duration, repeats: o.repeats, joins: o.joins }, (l) => console.error(l));
          print(o.output === 'json' ? JSON.stringify(r, null, 1) : formatWireguardBench(r));
          if (!r.meetsFloor) process.exitCode = 1;
          return;
        }
        for (const b of o.backend) if (!isBackendName(b)) throw new Error(`--backend must be vxlan or host-gw, got "${b}"`);
        // Progress goes to stderr so that `-o json` keeps stdout machine-readable.
        const results = await runBench({ name: o.name, backends: o.backend as BackendName[], durationSeconds: o.duration, repeats: o.repeats }, (l) => console.error(l));
        // -o json: one JSON array, one object per mode, in the order of --backend.
        print(o.output === 'json' ? JSON.stringify(results, null, 1) : formatBench(results));
        if (results.some((r) => !r.meetsFloor) && o.output === 'text') print('a mode is below the floor: see the parity lines above, then `twill lab bench -o json` for every sample');
      }),
    );

  lab
    .command('demo')
    .description('what `make lab` runs: a 3-node lab, sample pods, a probe of every path')
    .option('--name <name>', 'lab name', 'lab')
    .action(
      action('demo', async (o: { name: string }) => {
        const ok = await labDemo(print, o.name);
        process.exitCode = ok ? 0 : 1;
      }),
    );
}
