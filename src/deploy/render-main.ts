// `npm run deploy:render`: (re)writes deploy/twill.yaml and deploy/helm/twill/ from src/deploy/.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CHART_DIR } from './helm.js';
import { renderAll } from './render.js';

const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const files = renderAll(version);
// Files a previous render made that this one does not (an object renamed or removed) go.
for (const sub of ['crds', 'templates']) {
  const dir = join(CHART_DIR, sub);
  // why: no chart folder yet: nothing stale to remove
  for (const f of (() => { try { return readdirSync(dir); } catch { return []; } })()) {
    if (!files.has(join(dir, f))) rmSync(join(dir, f));
  }
}
for (const [path, text] of files) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
process.stdout.write(`deploy: wrote ${files.size} files (${[...files.keys()].filter((p) => !p.includes('/helm/')).join(', ')} and ${CHART_DIR}/)\n`);
