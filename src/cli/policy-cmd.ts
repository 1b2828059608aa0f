// `twill policy explain`: would this flow be allowed, and by which policy rules? A Service
// destination is answered per endpoint: policy applies after the Service's translation.
import { Option, type Command } from 'commander';
import { DEFAULT_AGENT_SOCKET } from '../dataplane/kernel/names.js';
import { LabKubelet } from '../lab/kubelet.js';
import { Lab } from '../lab/lab.js';
import { resolveLab } from '../lab/state.js';
import { describeError } from '../util/errors.js';
import { agentRequest } from './client.js';
import { isIp } from '../util/ip.js';
import { getPod } from '../lab/kubernetes/pods.js';
import { nodeHost } from '../lab/kubernetes/cluster.js';
import { hostPath } from '../lab/kubernetes/node-host.js';

interface ExplainReply {
  verdict: { allowed: boolean };
  text: string;
}

/** The agent to ask: --socket, or in a lab the agent on the source pod's node. */
async function socketFor(o: { socket?: string; lab?: string | boolean; from: string }): Promise<string> {
  if (o.lab === undefined) return o.socket ?? DEFAULT_AGENT_SOCKET;
  const st = await resolveLab(typeof o.lab === 'string' ? o.lab : undefined);
  const [ns, name] = o.from.includes('/') ? o.from.split('/', 2) : ['default', o.from];
  if (st.kubernetes) {
    // The agent's socket on the node (the DaemonSet's hostPath), seen from the host.
    const node = isIp(o.from) ? st.nodes[0]!.name : ((await getPod(st, ns!, name!)).spec.nodeName ?? st.nodes[0]!.name);
    return hostPath(nodeHost(st.name, node), DEFAULT_AGENT_SOCKET);
  }
  const lab = await Lab.open(st);
  const rec = await new LabKubelet(lab).record(ns!, name!);
  return lab.socket(rec?.node ?? lab.state.nodes[0]!.name);
}

export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('NetworkPolicy tools');
  policy
    .command('explain')
    .description('the verdict for a flow and the policy rules responsible (ask a running agent, or a lab)')
    .requiredOption('--from <pod>', 'source: NAMESPACE/POD or an IP address')
    .requiredOption('--to <pod>', 'destination: NAMESPACE/POD, an IP address, or svc/NAMESPACE/NAME; a Service (or its address) is answered with the endpoints it reaches and the verdict for each')
    .option('--port <port>', 'destination port (a Service\'s port; may be left out when it has one)', (v) => Number(v))
    .addOption(new Option('--protocol <protocol>', 'tcp | udp | sctp | icmp').default('tcp'))
    .option('--socket <path>', 'agent API socket', DEFAULT_AGENT_SOCKET)
    .option('--lab [name]', 'ask the lab (the agent on the source pod\'s node)')
    .addOption(new Option('-o, --output <format>').choices(['text', 'json']).default('text'))
    .action(async (o: { from: string; to: string; port?: number; protocol: string; socket?: string; lab?: string | boolean; output: string }) => {
      try {
        const socket = await socketFor(o);
        const r = await agentRequest<ExplainReply>(socket, 'POST', '/v1/policy/explain', { from: o.from, to: o.to, port: o.port, protocol: o.protocol });
        console.log(o.output === 'json' ? JSON.stringify(r.verdict, null, 2) : r.text);
        process.exitCode = r.verdict.allowed ? 0 : 3;
      } catch (e) {
        console.error(`twill policy explain: ${describeError(e)}`);
        process.exitCode = 1;
      }
    });
}
