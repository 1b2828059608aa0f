// Lab helpers for end-to-end tests: bring a lab up under a test-owned name, read a node's routing
// state from the kernel, write pod manifests, and always tear the lab down.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/dataplane/kernel/exec.js';
import { applyDocs, ensureDefaultNamespace } from '../../src/lab/apply.js';
import { LAB_DEFAULTS, Lab, type LabUpOptions } from '../../src/lab/lab.js';
import { loadManifests } from '../../src/lab/manifest.js';
import { probeLab, type ProbeResult } from '../../src/lab/probe.js';
import type { TestScope } from './scope.js';

export const quiet = (): void => undefined;

export async function upLab(scope: TestScope, name: string, opts: Partial<LabUpOptions> = {}): Promise<Lab> {
  await Lab.down(name, quiet);
  scope.defer(() => Lab.down(name, quiet));
  const lab = await Lab.up({ ...LAB_DEFAULTS, name, ...opts }, quiet);
  scope.defer(() => lab.close());
  await ensureDefaultNamespace(await lab.store());
  return lab;
}

/** Writes YAML to a temp file and applies it. */
export async function applyYaml(scope: TestScope, lab: Lab, yaml: string): Promise<void> {
  const dir = await scope.tmpdir('twill-yaml-');
  const file = join(dir, 'objects.yaml');
  await writeFile(file, yaml);
  await applyDocs(lab, await loadManifests([file]), quiet);
}

export function podYaml(ns: string, name: string, node: string, ports: number[], labels: Record<string, string> = {}): string {
  const l = Object.entries({ app: name, ...labels }).map(([k, v]) => `${k}: ${v}`).join(', ');
  const p = ports.map((x) => `{ containerPort: ${x} }`).join(', ');
  return `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${ns}, labels: { ${l} } }\nspec:\n  nodeName: ${node}\n  containers: [{ name: c, ports: [${p}] }]\n---\n`;
}

/**
 * The routing state Twill owns on a node, normalised (for before/after comparisons). Read errors
 * fail the caller: only a missing twill0 (a backend without VXLAN) is a state, written as such.
 */
export async function routingState(lab: Lab, node: string): Promise<string> {
  const ns = lab.node(node).netns;
  const routes = (await run('ip', ['-n', ns, 'route', 'show', 'proto', '116'])).stdout.trim().split('\n').filter(Boolean).sort();
  const vxlan = await run('ip', ['-n', ns, '-d', 'link', 'show', 'twill0']).then(
    (r) => r.stdout,
    (e: unknown) => {
      if (/does not exist/.test((e as { stderr?: string }).stderr ?? '')) return undefined;
      throw e;
    },
  );
  if (vxlan === undefined) return [...routes, '--', '(no twill0)'].join('\n');
  const neigh = (await run('ip', ['-n', ns, 'neigh', 'show', 'dev', 'twill0'])).stdout.trim().split('\n').filter((l) => l.includes('PERMANENT')).sort();
  const fdb = (await run('bridge', ['-n', ns, 'fdb', 'show', 'dev', 'twill0'])).stdout.trim().split('\n').filter((l) => l.includes('dst')).sort();
  const link = vxlan.replace(/^\d+: /, '').replace(/\s+/g, ' ').replace(/ (qlen|state) \S+/g, '');
  return [...routes, '--', ...neigh, '--', ...fdb, '--', link].join('\n');
}

export async function allConnected(lab: Lab, timeoutMs = 1000): Promise<{ ok: boolean; results: ProbeResult[]; failed: ProbeResult[] }> {
  const results = await probeLab(lab, { timeoutMs });
  const failed = results.filter((r) => !r.connected);
  return { ok: results.length > 0 && failed.length === 0, results, failed };
}

/** Block routes (proto 116, via a gateway or onlink) this node has towards its peers. */
export async function peerRoutes(lab: Lab, node: string): Promise<string[]> {
  const out = (await run('ip', ['-n', lab.node(node).netns, 'route', 'show', 'proto', '116'])).stdout;
  return out.split('\n').filter((l) => l.includes(' via ')).map((l) => l.split(' ')[0]!).sort();
}
