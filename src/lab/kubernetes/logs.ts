// `twill lab logs NODE` on a Kubernetes lab: the kubelet's or containerd's log file, or Twill's
// log on that node (the DaemonSet pod's container log, or the standalone agent's file).
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_VALUES } from '../../deploy/values.js';
import { TwillError } from '../../util/errors.js';
import type { LabState } from '../state.js';
import { nodeHost } from './cluster.js';
import { hostPath } from './node-host.js';
import { logFileOf } from './spawn.js';

export async function kubeLogFile(s: LabState, node: string, component: 'twill' | 'kubelet' | 'containerd' | 'kube-proxy'): Promise<string> {
  const h = nodeHost(s.name, node);
  if (component !== 'twill') return logFileOf({ dir: h.dir, name: component });
  if (s.kubernetes?.install === 'standalone') return logFileOf({ dir: h.dir, name: 'twill-agent' });
  // The kubelet writes container logs to /var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log.
  const pods = hostPath(h, '/var/log/pods');
  // why: read-only log search
  for (const d of (await readdir(pods).catch(() => [] as string[])).sort().reverse()) {
    // The DaemonSet's pods are <namespace>_twill-<suffix>_<uid> (deploy/twill.yaml's namespace).
    if (!d.startsWith(`${DEFAULT_VALUES.namespace}_twill-`)) continue;
    // why: read-only log search
    for (const c of await readdir(join(pods, d)).catch(() => [] as string[])) {
      if (c === 'install-cni' || c.startsWith('install')) continue;
      // why: read-only log search
      const logs = (await readdir(join(pods, d, c)).catch(() => [] as string[])).filter((f) => f.endsWith('.log')).sort((a, b) => parseInt(b) - parseInt(a));
      if (logs[0]) return join(pods, d, c, logs[0]);
    }
  }
  throw new TwillError('NOT_FOUND', `no Twill pod log on ${node} yet (see \`twill lab kubectl -- -n ${DEFAULT_VALUES.namespace} get pods -o wide\`)`);
}
