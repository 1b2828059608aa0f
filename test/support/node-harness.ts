// One lab node for end-to-end tests: a node namespace running a real `twill agent` (the built
// dist/ bundle), a libcni-style runtime that runs the built `twill-cni` inside the node namespace,
// and helpers to make pod sandboxes. Everything is registered with a TestScope for cleanup.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/dataplane/kernel/exec.js';
import { createNetns, deleteNetns, netnsPath } from '../../src/dataplane/kernel/netns.js';
import { CniRuntime, type ConfList, type PluginConf, type RuntimeConf } from '../../src/lab/cni-runtime.js';
import { agentSocket, startNodeAgent, stopNodeAgent } from '../../src/lab/node-agent.js';
import { twillBin, twillCniDir } from '../../src/util/paths.js';
import { uniqueName, type TestScope } from './scope.js';

export interface NodeHarnessOptions {
  podCidr?: string;
  agentArgs?: string[];
  /** The node's own address (on its loopback; a real node has one on its uplink). Default 192.0.2.10. */
  nodeIp?: string;
  /** Extra environment for the agent. */
  agentEnv?: Record<string, string>;
  /** Put the agent's state directory on a tmpfs of this size (disk-full tests), e.g. '160k'. */
  stateTmpfs?: string;
  /** Prefix of the namespaces this harness creates (default `twt-`): `<prefix>n-…`, `<prefix>p-…`. */
  prefix?: string;
}

export class NodeHarness {
  readonly runtime: CniRuntime;
  readonly socket: string;
  private pods = 0;

  private constructor(
    readonly scope: TestScope,
    readonly netns: string,
    readonly dir: string,
    readonly opts: NodeHarnessOptions,
  ) {
    this.socket = agentSocket(dir);
    this.runtime = new CniRuntime({ path: [twillCniDir(), '/usr/lib/cni'], nodeNetns: netns, cacheDir: join(dir, 'cni-cache') });
  }

  static async start(scope: TestScope, opts: NodeHarnessOptions = {}): Promise<NodeHarness> {
    const { name } = await scope.netns(`${opts.prefix ?? 'twt-'}n-`);
    const dir = await scope.tmpdir('twill-node-');
    const h = new NodeHarness(scope, name, dir, opts);
    await run('ip', ['-n', name, 'addr', 'add', `${h.nodeIp}/32`, 'dev', 'lo']);
    if (opts.stateTmpfs) {
      await mkdir(h.stateDir(), { recursive: true });
      await run('mount', ['-t', 'tmpfs', '-o', `size=${opts.stateTmpfs},mode=0700`, 'tmpfs', h.stateDir()]);
      scope.defer(() => run('umount', ['-l', h.stateDir()]).then(() => undefined));
    }
    scope.defer(() => stopNodeAgent(dir, 'SIGKILL'));
    await h.startAgent();
    return h;
  }

  async startAgent(): Promise<number> {
    return startNodeAgent({
      nodeName: 'node-1', netns: this.netns, dir: this.dir, args: ['--pod-cidr', this.opts.podCidr ?? '10.244.1.0/24', ...(this.opts.agentArgs ?? [])],
      ...(this.opts.agentEnv ? { env: this.opts.agentEnv } : {}),
    });
  }

  get nodeIp(): string {
    return this.opts.nodeIp ?? '192.0.2.10';
  }

  stopAgent(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    return stopNodeAgent(this.dir, signal);
  }

  conflist(extra: PluginConf[] = [], cniVersion = '1.1.0', twill: Record<string, unknown> = {}): ConfList {
    return { cniVersion, name: 'twill-e2e', plugins: [{ type: 'twill-cni', agentSocket: this.socket, ...twill }, ...extra] };
  }

  /** A fresh pod sandbox (netns), removed at cleanup. */
  async sandbox(): Promise<RuntimeConf & { name: string }> {
    const name = uniqueName(`${this.opts.prefix ?? 'twt-'}p-`);
    await createNetns(name);
    this.scope.defer(() => deleteNetns(name));
    const id = `${name}-${++this.pods}`;
    return { name, containerId: id, netns: netnsPath(name), ifname: 'eth0', args: { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: name } };
  }

  /** Runs a command inside a pod (or node) namespace. */
  exec(netns: string, argv: string[], timeoutMs = 10_000): Promise<{ stdout: string; stderr: string }> {
    return run('ip', ['netns', 'exec', netns, ...argv], { timeoutMs });
  }

  ping(fromNetns: string, ip: string): Promise<boolean> {
    return this.exec(fromNetns, ['ping', '-c', '1', '-W', '2', ip]).then(() => true, () => false);
  }

  /** `twill status` for this node's agent, as a person would read it. */
  async status(output: 'text' | 'json' = 'text'): Promise<string> {
    return (await run(process.execPath, [twillBin(), 'status', '--socket', this.socket, '-o', output])).stdout;
  }

  /** The agent's log so far. */
  log(): Promise<string> {
    return readFile(join(this.dir, 'agent.log'), 'utf8');
  }

  stateDir(): string {
    return join(this.dir, 'state');
  }

  async mkdir(sub: string): Promise<string> {
    const d = join(this.dir, sub);
    await mkdir(d, { recursive: true });
    return d;
  }
}

/** The IPv4 address (without prefix) in a CNI result. */
export function resultIp(result: unknown): string {
  const ip = (result as { ips?: { address: string }[] }).ips?.[0]?.address;
  if (!ip) throw new Error(`no IP in result ${JSON.stringify(result)}`);
  return ip.split('/')[0]!;
}
