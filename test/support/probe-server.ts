// Starts the lab's pod server (dist/pod-server.js) inside a namespace for a test: it answers on
// the given ports and probes other addresses from inside that namespace on request.
import { join } from 'node:path';
import { agentRequest } from '../../src/cli/client.js';
import { waitFor } from '../../src/lab/processes.js';
import type { ProbeOutcome, ProbeTarget } from '../../src/lab/pod-server.js';
import { projectRoot } from '../../src/util/paths.js';
import type { TestScope } from './scope.js';

export interface ProbeServer {
  probe(targets: ProbeTarget[]): Promise<ProbeOutcome[]>;
}

export async function startProbeServer(scope: TestScope, netns: string, identity: string, tcpPorts: number[], udpPorts: number[] = []): Promise<ProbeServer> {
  const dir = await scope.tmpdir('twill-probe-');
  const control = join(dir, 'control.sock');
  const ports = [...tcpPorts.map((p) => `${p}/tcp`), ...udpPorts.map((p) => `${p}/udp`)];
  scope.spawn('ip', ['netns', 'exec', netns, process.execPath, join(projectRoot(), 'dist', 'pod-server.js'), identity, control, ...ports]);
  await waitFor(`probe server in ${netns}`, async () => {
    await agentRequest(control, 'POST', '/probe', { targets: [] }, 500);
    return true;
  }, 10_000);
  return {
    probe: async (targets) => (await agentRequest<{ results: ProbeOutcome[] }>(control, 'POST', '/probe', { targets }, 30_000)).results,
  };
}
