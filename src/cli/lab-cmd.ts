// `twill lab …`: a whole cluster network on this host, in network namespaces.
// Each group of subcommands registers itself from its file in lab/, in the order `--help` lists them.
import type { Command } from 'commander';
import { registerLifecycle } from './lab/lifecycle.js';
import { registerObjects } from './lab/objects.js';
import { registerInspect } from './lab/inspect.js';
import { registerKubernetes } from './lab/kubernetes.js';
import { registerOperate } from './lab/operate.js';
import { registerBench } from './lab/bench.js';

export function registerLab(program: Command): void {
  const lab = program.command('lab').description('a whole cluster network on this host, in network namespaces');
  registerLifecycle(lab);
  registerObjects(lab);
  registerInspect(lab);
  registerKubernetes(lab);
  registerOperate(lab);
  registerBench(lab);
}
