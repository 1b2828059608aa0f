// A container runtime's side of CNI, as libcni drives it: a conflist's plugins run in order for
// ADD (each gets the previous result as prevResult), in reverse for DEL (with the cached ADD
// result), in order for CHECK; GC and STATUS go to every plugin. Plugins are found on CNI_PATH
// and run inside the node's network namespace with `ip netns exec`, as a kubelet on that node
// would run them. Used by the lab and by the end-to-end tests; no Twill code path is skipped.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TwillError } from '../util/errors.js';

export interface PluginConf extends Record<string, unknown> {
  type: string;
}

export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
  disableCheck?: boolean;
}

export interface RuntimeConf {
  containerId: string;
  netns: string;
  ifname: string;
  /** K8S_POD_NAMESPACE etc. */
  args?: Record<string, string>;
  /** runtimeConfig entries, offered to plugins that declare the capability. */
  capabilityArgs?: Record<string, unknown>;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export class CniPluginError extends TwillError {
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly cniCode: number | undefined,
    readonly msg: string,
    readonly raw: string,
  ) {
    super('INTERNAL', `CNI ${command} via ${plugin} failed${cniCode !== undefined ? ` (code ${cniCode})` : ''}: ${msg}`);
  }
}

/** A plugin's error result (spec JSON on stdout), or whatever it printed. */
function failure(plugin: string, command: string, r: ExecResult): CniPluginError {
  let parsed: { code?: number; msg?: string; details?: string } = {};
  try {
    parsed = JSON.parse(r.stdout) as typeof parsed;
  } catch {
    // why: a plugin that printed no JSON: its raw output becomes the message
    parsed = { msg: (r.stdout + r.stderr).trim() || `exit status ${r.code}` };
  }
  return new CniPluginError(plugin, command, parsed.code, [parsed.msg, parsed.details].filter(Boolean).join(': '), r.stdout);
}

export interface CniRuntimeOptions {
  /** Directories searched for plugin binaries (CNI_PATH). */
  path: string[];
  /** Named network namespace the plugins run in (the "node"); undefined = the caller's. */
  nodeNetns?: string;
  /** Where ADD results are cached for DEL/CHECK (libcni's /var/lib/cni/results). */
  cacheDir: string;
  env?: NodeJS.ProcessEnv;
}

export class CniRuntime {
  constructor(readonly opts: CniRuntimeOptions) {}

  private findPlugin(type: string): string {
    for (const d of this.opts.path) {
      const p = join(d, type);
      if (existsSync(p)) return p;
    }
    throw new TwillError('CONFIG_INVALID', `CNI plugin "${type}" not found on CNI_PATH ${this.opts.path.join(':')}`);
  }

  /** Runs one plugin binary exactly as a runtime does: env + stdin in, JSON out. */
  exec(type: string, command: string, stdin: unknown, rt?: RuntimeConf): Promise<ExecResult> {
    const bin = this.findPlugin(type);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      ...this.opts.env,
      CNI_COMMAND: command,
      CNI_PATH: this.opts.path.join(':'),
    };
    if (rt) {
      env['CNI_CONTAINERID'] = rt.containerId;
      env['CNI_NETNS'] = rt.netns;
      env['CNI_IFNAME'] = rt.ifname;
      env['CNI_ARGS'] = Object.entries({ IgnoreUnknown: '1', ...rt.args }).map(([k, v]) => `${k}=${v}`).join(';');
    }
    const [cmd, args] = this.opts.nodeNetns ? ['ip', ['netns', 'exec', this.opts.nodeNetns, bin]] : [bin, []];
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', reject);
      child.on('close', (code) =>
        resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: performance.now() - t0 }),
      );
      child.stdin.end(typeof stdin === 'string' ? stdin : JSON.stringify(stdin));
    });
  }

  /** The network config one plugin of the list receives (libcni's buildOneConfig). */
  static pluginConfig(list: ConfList, plugin: PluginConf, prevResult: unknown, rt: RuntimeConf): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
    if (prevResult !== undefined) conf['prevResult'] = prevResult;
    const caps = plugin['capabilities'] as Record<string, boolean> | undefined;
    if (caps && rt.capabilityArgs) {
      const runtimeConfig: Record<string, unknown> = {};
      for (const [cap, on] of Object.entries(caps)) if (on && cap in rt.capabilityArgs) runtimeConfig[cap] = rt.capabilityArgs[cap];
      if (Object.keys(runtimeConfig).length) conf['runtimeConfig'] = runtimeConfig;
    }
    return conf;
  }

  private async run(list: ConfList, plugin: PluginConf, command: string, prev: unknown, rt: RuntimeConf): Promise<unknown> {
    const r = await this.exec(plugin.type, command, CniRuntime.pluginConfig(list, plugin, prev, rt), rt);
    if (r.code !== 0) throw failure(plugin.type, command, r);
    return r.stdout.trim() ? (JSON.parse(r.stdout) as unknown) : undefined;
  }

  private cacheFile(list: ConfList, rt: RuntimeConf): string {
    return join(this.opts.cacheDir, `${list.name}-${rt.containerId}-${rt.ifname}.json`);
  }

  async addNetworkList(list: ConfList, rt: RuntimeConf): Promise<unknown> {
    let prev: unknown;
    for (const p of list.plugins) prev = await this.run(list, p, 'ADD', prev, rt);
    await mkdir(this.opts.cacheDir, { recursive: true });
    await writeFile(this.cacheFile(list, rt), JSON.stringify({ result: prev, rt }));
    return prev;
  }

  private async cached(list: ConfList, rt: RuntimeConf): Promise<unknown> {
    try {
      return (JSON.parse(await readFile(this.cacheFile(list, rt), 'utf8')) as { result: unknown }).result;
    } catch {
      // why: read-only: no cached result for this attachment
      return undefined;
    }
  }

  async checkNetworkList(list: ConfList, rt: RuntimeConf): Promise<void> {
    const prev = await this.cached(list, rt);
    if (prev === undefined) throw new TwillError('NOT_FOUND', `no cached result for ${rt.containerId}/${rt.ifname}`);
    for (const p of list.plugins) await this.run(list, p, 'CHECK', prev, rt);
  }

  async delNetworkList(list: ConfList, rt: RuntimeConf): Promise<void> {
    const prev = await this.cached(list, rt);
    for (const p of [...list.plugins].reverse()) await this.run(list, p, 'DEL', prev, rt);
    await rm(this.cacheFile(list, rt), { force: true });
  }

  /** GC and STATUS exist from CNI 1.1.0 on; for older lists libcni skips them, and so do we. */
  static hasGcAndStatus(list: ConfList): boolean {
    const [a = 0, b = 0] = list.cniVersion.split('.').map(Number);
    return a > 1 || (a === 1 && b >= 1);
  }

  async gcNetworkList(list: ConfList, valid: { containerID: string; ifname: string }[]): Promise<void> {
    if (!CniRuntime.hasGcAndStatus(list)) return;
    for (const p of list.plugins) {
      const conf = { ...p, name: list.name, cniVersion: list.cniVersion, 'cni.dev/valid-attachments': valid };
      const r = await this.exec(p.type, 'GC', conf);
      if (r.code !== 0) throw failure(p.type, 'GC', r);
    }
  }

  async status(list: ConfList): Promise<ExecResult[]> {
    const out: ExecResult[] = [];
    if (!CniRuntime.hasGcAndStatus(list)) return out;
    for (const p of list.plugins) out.push(await this.exec(p.type, 'STATUS', { ...p, name: list.name, cniVersion: list.cniVersion }));
    return out;
  }
}
