// What wires pods on a Kubernetes lab node before (or instead of) Twill's DaemonSet: the reference
// bridge + host-local plugins (the baseline Twill is measured against), or a standalone Twill agent
// per node as the etcd lab runs it. Either way the lab routes each node's pod range to that node.
import { existsSync, realpathSync } from 'node:fs';
import { copyFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentRequest } from '../../cli/client.js';
import { run } from '../../dataplane/kernel/exec.js';
import { TwillError } from '../../util/errors.js';
import { nodeShimBundle, projectRoot, shimRuntime, twillBin } from '../../util/paths.js';
import { isAlive, readPid, waitFor } from '../processes.js';
import { hostPath, installCniPlugins, onNode, type NodeHost } from './node-host.js';
import { procFailed, startProc } from './spawn.js';

export const REFERENCE_PLUGINS_DIR = '/usr/lib/cni';

/** Writes a conflist atomically (containerd watches the folder and must never read half a file). */
export async function writeConflist(h: NodeHost, file: string, conf: unknown): Promise<void> {
  const dst = join(hostPath(h, '/etc/cni/net.d'), file);
  await writeFile(`${dst}.tmp`, JSON.stringify(conf, null, 2) + '\n');
  await rename(`${dst}.tmp`, dst);
}

/** The baseline: the reference bridge + host-local conflist, one /24 per node. */
export function bridgeConflist(podCidr: string): unknown {
  return {
    cniVersion: '1.0.0',
    name: 'lab-bridge',
    plugins: [{
      type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: false, hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: podCidr }]], routes: [{ dst: '0.0.0.0/0' }] },
    }],
  };
}

/** The reference loopback plugin is on every kubeadm node; containerd calls it for each sandbox. */
export async function installBasePlugins(h: NodeHost, cni: 'twill' | 'bridge'): Promise<void> {
  if (!existsSync(join(REFERENCE_PLUGINS_DIR, 'loopback'))) {
    throw new TwillError('NOT_FOUND', `${REFERENCE_PLUGINS_DIR}/loopback is missing: apt-get install containernetworking-plugins`);
  }
  await installCniPlugins(h, REFERENCE_PLUGINS_DIR, cni === 'bridge' ? ['loopback', 'bridge', 'host-local'] : ['loopback']);
}

/** Routes each other node's pod range via that node's underlay address (bridge and standalone modes). */
export async function routePodCidrs(nodes: { netns: string; ip: string; podCidr: string }[]): Promise<void> {
  for (const n of nodes) {
    for (const m of nodes) if (m !== n) await run('ip', ['-n', n.netns, 'route', 'replace', m.podCidr, 'via', m.ip, 'dev', 'eth0']);
  }
}

/** Puts twill-cni into the node's /opt/cni/bin (the compiled shim, or a wrapper running the Node bundle). */
export async function installTwillCni(h: NodeHost): Promise<void> {
  const dst = join(hostPath(h, '/opt/cni/bin'), 'twill-cni');
  if (shimRuntime() === 'node') await writeFile(dst, `#!/bin/sh\nexec '${process.execPath}' '${nodeShimBundle()}' "$@"\n`, { mode: 0o755 });
  else await copyFile(realpathSync(join(projectRoot(), 'bin', 'twill-cni')), dst);
}

/** A standalone Twill agent on the node (its own pod range), then its conflist, once it answers. */
export async function startStandaloneAgent(h: NodeHost & { name: string }, podCidr: string): Promise<number> {
  const sock = hostPath(h, '/run/twill/agent.sock');
  const spec = { name: 'twill-agent', dir: h.dir };
  let pid = await readPid(join(h.dir, 'twill-agent.pid'));
  if (pid === undefined || !isAlive(pid)) {
    pid = await startProc({
      ...spec,
      argv: onNode(h, [process.execPath, twillBin(), 'agent', '--node-name', h.name, '--pod-cidr', podCidr, '--underlay-iface', 'eth0',
        '--socket', '/run/twill/agent.sock', '--state-dir', '/var/lib/twill', '--run-dir', '/run/twill']),
    });
  }
  const p = pid;
  try {
    await waitFor(`twill agent on ${h.name}`, async () => {
      if (!isAlive(p)) throw new TwillError('INTERNAL', 'exited');
      await agentRequest(sock, 'GET', '/healthz', undefined, 1000);
      return true;
    }, 20_000, 100);
  } catch (e) {
    throw await procFailed(spec, p, `no answer on ${sock}`, e);
  }
  await installTwillCni(h);
  await writeConflist(h, '10-twill.conflist', { cniVersion: '1.1.0', name: 'twill', plugins: [{ type: 'twill-cni', agentSocket: '/run/twill/agent.sock' }] });
  return p;
}
