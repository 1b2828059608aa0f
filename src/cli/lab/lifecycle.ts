// `twill lab up | down | list`: bring a lab up (etcd or Kubernetes), remove it, list labs.
import { Option, type Command } from 'commander';
import { ensureDefaultNamespace } from '../../lab/apply.js';
import { getNodes } from '../../lab/get.js';
import { LAB_DEFAULTS, Lab } from '../../lab/lab.js';
import { listLabs, loadLab, resolveLab, validateLabName } from '../../lab/state.js';
import { KUBE_LAB_DEFAULTS, kubectlTarget, upKubeLab } from '../../lab/kubernetes/cluster.js';
import { kubectl } from '../../lab/kubernetes/kubectl.js';
import { isBackendName } from '../../dataplane/routing/registry.js';
import type { BackendName, EncryptionMode } from '../../model/types.js';
import { print, int, action, nameOpt } from './common.js';

export function registerLifecycle(lab: Command): void {
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

}
