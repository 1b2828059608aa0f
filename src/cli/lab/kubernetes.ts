// `twill lab kubectl | kubeconfig` (and the hidden `control-plane-host`): Kubernetes labs only.
import type { Command } from 'commander';
import { resolveLab, type LabState } from '../../lab/state.js';
import { kubectlTarget } from '../../lab/kubernetes/cluster.js';
import { kubectlInteractive } from '../../lab/kubernetes/kubectl.js';
import { runControlPlaneHost } from '../../lab/kubernetes/control-plane-host.js';
import { print, action, nameOpt } from './common.js';

export function registerKubernetes(lab: Command): void {
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

}
