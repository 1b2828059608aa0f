// Installing Twill on a Kubernetes lab the way an operator does: `kubectl apply -f deploy/twill.yaml`,
// then waiting for its DaemonSet to be rolled out.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../util/paths.js';
import { kubectl, type KubectlTarget } from './kubectl.js';

/** deploy/twill.yaml, when this checkout has it. */
export function deployManifest(): string | undefined {
  const f = join(projectRoot(), 'deploy', 'twill.yaml');
  return existsSync(f) ? f : undefined;
}

export async function installTwill(t: KubectlTarget, print: (l: string) => void, file = deployManifest()): Promise<void> {
  if (!file) throw new Error('deploy/twill.yaml is missing from this checkout');
  print(`$ kubectl apply -f ${file}`);
  const r = await kubectl(t, ['apply', '-f', file]);
  for (const l of r.stdout.trim().split('\n')) print(`  ${l}`);
}
