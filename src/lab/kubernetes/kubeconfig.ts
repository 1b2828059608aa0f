// Kubeconfig files (written as JSON, which every Kubernetes client reads as YAML) that point at
// certificate files rather than embedding them, so a person can inspect what a component uses.
import { writeFile } from 'node:fs/promises';
import type { CertFiles } from './pki.js';

export interface KubeconfigSpec {
  server: string;
  caFile: string;
  client: CertFiles;
  user: string;
}

export function kubeconfigText(s: KubeconfigSpec): string {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server: s.server, 'certificate-authority': s.caFile } }],
    users: [{ name: s.user, user: { 'client-certificate': s.client.cert, 'client-key': s.client.key } }],
    contexts: [{ name: 'lab', context: { cluster: 'lab', user: s.user } }],
    'current-context': 'lab',
    preferences: {},
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

export async function writeKubeconfig(file: string, s: KubeconfigSpec): Promise<string> {
  await writeFile(file, kubeconfigText(s), { mode: 0o600 });
  return file;
}
