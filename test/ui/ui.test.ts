// The web UI in a real browser (Debian's chromium driven by playwright-core) against a 2-node lab:
// the page loads with nothing fetched from elsewhere, the map shows the lab's pods, a denied
// connection appears in the table with its policy within 2 s, a filter narrows the table, and a
// flow can be explained. Screenshots go to docs/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Lab } from '../../src/lab/lab.js';
import { probeFrom } from '../../src/lab/pod-sandbox.js';
import { podDir } from '../../src/lab/state.js';
import { projectRoot, twillBin } from '../../src/util/paths.js';
import { TestScope } from '../support/scope.js';
import { applyYaml, podYaml, upLab } from '../support/lab.js';

const NAME = 'flui';
const CHROMIUM = '/usr/bin/chromium';
const scope = new TestScope();
let lab: Lab;
let url: string;
let ctx: BrowserContext;
let page: Page;
const ip: Record<string, string> = {};
const requests: string[] = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
  lab = await upLab(scope, NAME, { nodes: 2 });
  await applyYaml(
    scope,
    lab,
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n---\n' + podYaml('shop', 'web', 'node-1', [80]) + podYaml('shop', 'db', 'node-2', [80, 5432]) +
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: db-from-web, namespace: shop }\nspec:\n  podSelector: { matchLabels: { app: db } }\n  ingress:\n  - from: [{ podSelector: { matchLabels: { app: web } } }]\n    ports: [{ port: 5432 }]\n',
  );
  for (const n of ['node-1', 'node-2']) {
    const s = (await lab.agentStatus(n)) as unknown as { attachments: { pod?: string; ips: string[] }[] };
    for (const a of s.attachments) if (a.pod) ip[a.pod] = a.ips[0]!;
  }
  const ui = spawn(process.execPath, [twillBin(), 'ui', '--lab', NAME, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  scope.defer(() => void ui.kill('SIGTERM'));
  url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('twill ui printed no address within 15 s')), 15_000);
    createInterface({ input: ui.stdout }).on('line', (l) => {
      const m = /^twill ui: (http:\/\/\S+)$/.exec(l);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
  });
  const profile = await scope.tmpdir('fl-chromium-');
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
  });
  scope.defer(() => ctx.close());
  page = ctx.pages()[0] ?? (await ctx.newPage());
  page.on('request', (r) => requests.push(r.url()));
});
after(() => scope.cleanup());

const connect = (port: number) => probeFrom(podDir(NAME, 'shop', 'web'), [{ ip: ip['shop/db']!, port, protocol: 'tcp', timeoutMs: 300 }]).then((r) => r[0]!);

test('the page loads and the map shows the lab\'s pods, with nothing fetched from elsewhere', async () => {
  await page.goto(url);
  await page.locator('[data-pod="shop/web"]').waitFor({ timeout: 10_000 });
  await page.locator('[data-pod="shop/db"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('rect[data-node]').count(), 2);
  const origin = new URL(url).origin;
  assert.deepEqual(requests.filter((r) => !r.startsWith(origin)), [], 'every request goes to the UI server');
});

test('a denied connection appears in the table with its policy within 2 s; a filter narrows the table', async () => {
  assert.equal((await connect(5432)).connected, true);
  const t0 = Date.now();
  assert.equal((await connect(80)).connected, false);
  const row = page.locator('tbody tr[data-verdict="DROPPED"]', { hasText: 'shop/db:80' }).first();
  await row.waitFor({ timeout: Math.max(1, 2000 - (Date.now() - t0)) });
  const latency = Date.now() - t0;
  console.log(`denied connection in the UI table after ${latency} ms`);
  assert.match(await row.innerText(), /shop\/web:\d+\s+shop\/db:80[\s\S]*DROPPED POLICY_DENIED[\s\S]*shop\/db-from-web/);
  await page.locator('path[data-verdict="DROPPED"][data-edge="shop/web>shop/db"]').waitFor({ timeout: 3000 });
  await page.screenshot({ path: join(projectRoot(), 'docs', 'ui-flows.png'), fullPage: true });

  const all = await page.locator('tbody tr').count();
  await page.selectOption('#f-verdict', 'DROPPED');
  const dropped = await page.locator('tbody tr').count();
  assert.ok(dropped > 0 && dropped < all, `the verdict filter narrows ${all} rows to ${dropped}`);
  assert.equal(await page.locator('tbody tr[data-verdict="FORWARDED"]').count(), 0);
  await page.fill('#f-to', 'shop/web');
  assert.equal(await page.locator('tbody tr').count(), 0, 'no dropped flow goes to shop/web');
  await page.fill('#f-to', '');
  await page.selectOption('#f-verdict', '');

  await row.click();
  const explain = page.locator('#explain');
  await explain.waitFor({ timeout: 5000 });
  assert.match(await explain.innerText(), /DENIED\s+pod shop\/web .* → pod shop\/db .* TCP\/80[\s\S]*ingress: DENIED, no rule of shop\/db-from-web allows it/);
  await page.locator('[data-pod="shop/db"]').click();
  assert.match(await page.locator('#policy-body').innerText(), /ingress policies: shop\/db-from-web/);
  await page.locator('tbody tr', { hasText: 'shop/db:80' }).first().click();
  await explain.waitFor();
  await page.screenshot({ path: join(projectRoot(), 'docs', 'ui-explain.png'), fullPage: true });
});
