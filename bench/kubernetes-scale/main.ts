// One agent against a big cluster's API: `--nodes` Nodes (with TwillNodes and IPAMBlocks) and
// `--pods` Pods, plus NetworkPolicies, created as objects in a real kube-apiserver (no kubelets),
// then one real `twill agent --datastore kubernetes` started in a network namespace this bench
// makes. Reports agent RSS, CPU, time to its first full reconcile (routes to every peer and a
// policy ruleset from every pod), bytes it received from the API, and how soon a watcher learns
// an address published at CNI ADD.
//   sudo node --import tsx bench/kubernetes-scale/main.ts [--nodes 1000] [--pods 30000] [--policies 200]
//     [--node-options '...']   (the agent's NODE_OPTIONS; default: the DaemonSet's, src/deploy/manifest.ts)
//     [--node-flags '...']   (node command-line flags for diagnosis only, e.g. --trace-gc, --cpu-prof)
//     [--keep DIR]   (keep the control plane's folder, etcd data included, in DIR: a later run with
//                     the same DIR and scale reuses its objects and starts only the agent afresh;
//                     for iterating on the agent; the report says objectsReused)
// Prints one JSON object on stdout (progress on stderr).
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createNetns, deleteNetns, netnsPath } from '../../src/dataplane/kernel/netns.js';
import { AGENT_RUNTIME_ENV } from '../../src/deploy/manifest.js';
import { runInside } from './inside.js';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    pods: { type: 'string', default: '30000' },
    policies: { type: 'string', default: '200' },
    namespaces: { type: 'string', default: '100' },
    // The agent runs with the DaemonSet's runtime environment (AGENT_RUNTIME_ENV: NODE_OPTIONS,
    // MALLOC_ARENA_MAX); --node-options overrides NODE_OPTIONS for experiments.
    'node-options': { type: 'string', default: AGENT_RUNTIME_ENV['NODE_OPTIONS'] ?? '' },
    'node-flags': { type: 'string', default: '' },
    keep: { type: 'string' },
    inside: { type: 'boolean', default: false },
    dir: { type: 'string' },
  },
});

const opts = { nodes: Number(args.nodes), pods: Number(args.pods), policies: Number(args.policies), namespaces: Number(args.namespaces) };
if (!(opts.nodes >= 2 && opts.nodes <= 5000 && opts.pods >= 1 && opts.pods <= 100_000 && opts.policies >= 0 && opts.policies <= 5000 && opts.namespaces >= 1 && opts.namespaces <= 1000)) {
  throw new Error('--nodes 2..5000, --pods 1..100000, --policies 0..5000, --namespaces 1..1000');
}

function sh(cmd: string[]): void {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr.toString()}`);
}

async function outside(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('bench/kubernetes-scale needs root: it makes a network namespace for the agent');
    return 1;
  }
  const ns = `ksb${process.pid.toString(36)}`;
  const dir = args.keep ? resolve(args.keep) : await mkdtemp(join(tmpdir(), 'ks-scale-'));
  await mkdir(dir, { recursive: true });
  await createNetns(ns);
  try {
    const enter = ['nsenter', `--net=${netnsPath(ns)}`];
    sh([...enter, 'ip', 'link', 'set', 'lo', 'up']);
    // The agent's underlay: a veth pair inside the namespace (this kernel has no dummy module).
    sh([...enter, 'ip', 'link', 'add', 'ksu0', 'type', 'veth', 'peer', 'name', 'ksu1']);
    sh([...enter, 'ip', 'addr', 'add', '198.18.0.1/16', 'dev', 'ksu0']);
    sh([...enter, 'ip', 'link', 'set', 'ksu1', 'up']);
    sh([...enter, 'ip', 'link', 'set', 'ksu0', 'up']);
    // Everything (etcd, kube-apiserver, the agent, this bench's clients) runs in the namespace:
    // loopback there is private, and the agent's routes and nftables stay there.
    const self = fileURLToPath(import.meta.url);
    const argv = [...enter, process.execPath, '--import', 'tsx', self, '--inside', '--dir', dir, ...(args.keep ? ['--keep', dir] : []), ...passThrough()];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    const stop = (): void => void child.kill('SIGTERM');
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return await new Promise<number>((r) => child.once('exit', (code) => r(code ?? 1)));
  } finally {
    await deleteNetns(ns).catch(() => undefined);
    if (!args.keep) await rm(dir, { recursive: true, force: true });
  }
}

/** The scale and agent options, for the bench inside the namespace. */
function passThrough(): string[] {
  const out: string[] = [];
  for (const k of ['nodes', 'pods', 'policies', 'namespaces', 'node-options', 'node-flags'] as const) out.push(`--${k}=${args[k]}`);
  return out;
}

if (args.inside) {
  runInside({ ...opts, dir: args.dir!, nodeOptions: args['node-options'], nodeFlags: args['node-flags'].split(' ').filter(Boolean), keep: args.keep !== undefined }).then(
    (report) => {
      console.log(JSON.stringify(report, null, 2));
      process.exit(report['floorsMet'] ? 0 : 3);
    },
    (e: unknown) => {
      console.error(e);
      void readFile(join(args.dir!, 'agent.log'), 'utf8')
        .then((t) => console.error(`agent log tail:\n${t.split('\n').slice(-30).join('\n')}`))
        .catch(() => undefined)
        .finally(() => process.exit(1));
    },
  );
} else {
  void outside().then((code) => process.exit(code));
}
