// Hand-wired pods for kernel tests and the bench, wired the way the agent will wire them: a node
// namespace, one namespace per pod joined by a veth (host side `twl…` with the constant gateway
// MAC, pod side eth0 with IP/32, a link route to 169.254.1.1, a default route via it and a
// permanent neighbour for it), a /32 route per pod on the node, and ip_forward=1. An "outside"
// namespace stands in for the rest of the world (other nodes, external hosts) behind `uplink0`.
// Everything lives in namespaces the caller's TestScope removes.
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST_VETH_MAC, POD_GATEWAY_V4 } from '../../dataplane/kernel/names.js';
import { ipBatchInNetns } from '../../dataplane/kernel/netns.js';
import { runInNetns } from '../../dataplane/kernel/exec.js';
import type { TestScope } from '../../../test/support/scope.js';

export interface PodWiring {
  /** `namespace/name`. */
  key: string;
  ip: string;
  iface: string;
}

export interface OutsideWiring {
  /** Address of the outside host on the uplink subnet (192.0.2.0/24). */
  ip: string;
  /** Extra addresses the outside namespace answers for (remote pods, external hosts). */
  extraIps: string[];
  /** Prefixes the node routes to the outside (e.g. another node's pod block). */
  routes: string[];
}

export interface Ns {
  name: string;
  path: string;
}

export interface Topology {
  node: Ns;
  /** The node's own address on the uplink. */
  nodeIp: string;
  pods: Map<string, Ns & PodWiring>;
  outside: Ns & OutsideWiring;
  scratch: string;
}

export const NODE_UPLINK_IP = '192.0.2.1';

export async function buildTopology(scope: TestScope, pods: PodWiring[], outside: OutsideWiring): Promise<Topology> {
  const scratch = await scope.tmpdir('twill-policy-');
  const node = await scope.netns('tw-pn-');
  const out = await scope.netns('tw-po-');
  const podNs = await Promise.all(pods.map(() => scope.netns('tw-pp-')));
  const nodeCmds: string[] = [`link add uplink0 type veth peer name eth0 netns ${out.name}`, 'link set uplink0 up', `addr add ${NODE_UPLINK_IP}/24 dev uplink0`];
  pods.forEach((p, i) => {
    nodeCmds.push(`link add ${p.iface} type veth peer name eth0 netns ${podNs[i]!.name}`, `link set ${p.iface} address ${HOST_VETH_MAC}`, `link set ${p.iface} up`, `route add ${p.ip}/32 dev ${p.iface}`);
  });
  for (const r of outside.routes) nodeCmds.push(`route add ${r} via ${outside.ip}`);
  await ipBatchInNetns(node.path, nodeCmds);
  await runInNetns(node.path, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  await Promise.all(
    pods.map((p, i) =>
      ipBatchInNetns(
        podNs[i]!.path,
        [
          `addr add ${p.ip}/32 dev eth0`,
          'link set eth0 up',
          `route add ${POD_GATEWAY_V4} dev eth0 scope link`,
          `route add default via ${POD_GATEWAY_V4} dev eth0`,
          `neigh add ${POD_GATEWAY_V4} lladdr ${HOST_VETH_MAC} dev eth0 nud permanent`,
        ]),
    ),
  );
  await ipBatchInNetns(
    out.path,
    ['link set eth0 up', `addr add ${outside.ip}/24 dev eth0`, ...outside.extraIps.map((ip) => `addr add ${ip}/32 dev lo`), `route add default via ${NODE_UPLINK_IP}`]);
  return {
    node,
    nodeIp: NODE_UPLINK_IP,
    pods: new Map(pods.map((p, i) => [p.key, { ...p, ...podNs[i]! }])),
    outside: { ...out, ...outside },
    scratch,
  };
}

const AGENT = join(dirname(fileURLToPath(import.meta.url)), 'probe-agent.ts');
/** tsx's loader by absolute URL, so the agent starts whatever the working directory. */
const TSX = import.meta.resolve('tsx');

export type ProbeReq =
  | { op: 'tcp'; host: string; port: number; timeoutMs: number; localPort?: number; localAddress?: string }
  | { op: 'udp'; host: string; port: number; timeoutMs: number; localPort?: number; localAddress?: string; payload: string }
  | { op: 'ping'; host: string; timeoutMs: number }
  | { op: 'log' }
  | { op: 'connrate'; host: string; port: number; count: number; maxMs: number };

export interface ProbeRes {
  ok: boolean;
  ms?: number;
  log?: string[];
  done?: number;
  error?: string;
}

/** A running probe agent inside one namespace. */
export class Prober {
  private next = 1;
  private readonly waiting = new Map<number, (r: ProbeRes) => void>();

  private constructor(private readonly child: ChildProcess) {}

  static async start(scope: TestScope, ns: Ns, ports: { tcp: number[]; udp: number[]; bind?: string[] }): Promise<Prober> {
    const args = ['netns', 'exec', ns.name, process.execPath, '--import', TSX, AGENT, '--tcp', ports.tcp.join(','), '--udp', ports.udp.join(',')];
    if (ports.bind) args.push('--bind', ports.bind.join(','));
    const child = scope.spawn('ip', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new Prober(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`probe agent in ${ns.name} did not start in 20 s: ${stderr}`)), 20_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const msg = JSON.parse(line) as ProbeRes & { id?: number; ready?: boolean };
        if (msg.ready) {
          clearTimeout(timer);
          resolve();
        } else if (msg.id !== undefined) {
          p.waiting.get(msg.id)?.(msg);
          p.waiting.delete(msg.id);
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`probe agent in ${ns.name} exited (${code}): ${stderr}`));
      });
    });
    return p;
  }

  probe(req: ProbeReq): Promise<ProbeRes> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin!.write(JSON.stringify({ id, ...req }) + '\n');
    });
  }
}
