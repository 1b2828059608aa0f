// `twill lab exec | logs | probe`: look inside a running lab: a command in a pod's namespace,
// a node's log, the reachability matrix.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { formatServiceProbe, probeService } from '../../lab/services/probe.js';
import { LabKubelet } from '../../lab/kubelet.js';
import { formatMatrix, probeLab } from '../../lab/probe.js';
import { nodeDir, resolveLab } from '../../lab/state.js';
import { getPod, podNetnsPath, probeKubeLab } from '../../lab/kubernetes/pods.js';
import { kubeLogFile } from '../../lab/kubernetes/logs.js';
import { probeKubeService } from '../../lab/kubernetes/service-probe.js';
import { print, int, action, withLab, nameOpt, outputOpt } from './common.js';

export function registerInspect(lab: Command): void {
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

}
