// The OCI image archives a Kubernetes lab imports into every node's containerd (built offline by
// scripts/images/build.sh). Each archive names its image by full reference.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TwillError } from '../../util/errors.js';
import { projectRoot } from '../../util/paths.js';
import { PAUSE_IMAGE } from './node-runtime.js';

export interface LabImage {
  name: string;
  file: string;
}

export const imagesDir = (): string => process.env.TWILL_IMAGES ?? '/var/cache/twill/images';
export const AGNHOST_IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.66.1';

async function twillVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return (JSON.parse(await readFile(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export const twillImage = async (): Promise<string> => process.env.TWILL_IMAGE ?? `twill.local/twill:${await twillVersion()}`;

/** pause (required: the sandbox image), agnhost (test pods) and Twill's image, when they are built. */
export async function labImages(cni: 'twill' | 'bridge'): Promise<LabImage[]> {
  const dir = imagesDir();
  const pause = { name: PAUSE_IMAGE, file: join(dir, 'pause-3.10.2.tar') };
  if (!existsSync(pause.file)) throw new TwillError('NOT_FOUND', `${pause.file} is missing: run \`scripts/images/build.sh pause\` (the sandbox image every pod needs; nothing is pulled)`);
  const out = [pause];
  const agnhost = { name: AGNHOST_IMAGE, file: join(dir, 'agnhost-2.66.1.tar') };
  if (existsSync(agnhost.file)) out.push(agnhost);
  if (cni === 'twill') {
    const twill = { name: await twillImage(), file: join(dir, `twill-${await twillVersion()}.tar`) };
    if (existsSync(twill.file)) out.push(twill);
  }
  return out;
}
