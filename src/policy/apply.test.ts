// PolicyDataplane against the fake ruleset (no root): full first, then diffs, full again after
// any refusal, and the refused transaction leaves the previous ruleset in force.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTwillError } from '../util/errors.js';
import { PolicyDataplane, type NftRunner } from './apply.js';
import { compilePolicy } from './compile.js';
import { NftFake } from './nft-fake.js';
import { renderFullReplace } from './render.js';
import { PODS, shopSnapshot } from './testing/fixtures.js';

function fakeRunner(): NftRunner & { fake: NftFake; scripts: string[]; files: string[]; failNext: boolean } {
  const r = {
    fake: new NftFake(),
    scripts: [] as string[],
    files: [] as string[],
    failNext: false,
    apply(script: string, file: string): Promise<void> {
      r.scripts.push(script);
      r.files.push(file);
      if (r.failNext) {
        r.failNext = false;
        return Promise.reject(new Error('Error: Could not process rule: No such file or directory'));
      }
      r.fake.apply(script);
      return Promise.resolve();
    },
    listTable: () => Promise.resolve({ nftables: [] }),
  };
  return r;
}

const fresh = (m: ReturnType<typeof compilePolicy>): string => {
  const f = new NftFake();
  f.apply(renderFullReplace(m));
  return f.dump('twill-policy');
};

test('first apply is full, then incremental, then unchanged', async () => {
  const nft = fakeRunner();
  const dp = new PolicyDataplane({ runDir: '/run/twill-test', nft });
  const m1 = compilePolicy(shopSnapshot());
  assert.equal((await dp.apply(m1)).mode, 'full');
  assert.equal(nft.files[0], '/run/twill-test/nft/twill-policy.nft');
  const m2 = compilePolicy(shopSnapshot({ pods: PODS.filter((p) => p.name !== 'web-2') }));
  const r2 = await dp.apply(m2);
  assert.equal(r2.mode, 'incremental');
  assert.ok(r2.changes > 0 && r2.bytes > 0);
  assert.doesNotMatch(nft.scripts[1]!, /^delete table/m);
  assert.equal(nft.fake.dump('twill-policy'), fresh(m2));
  assert.deepEqual(await dp.apply(compilePolicy(shopSnapshot({ pods: PODS.filter((p) => p.name !== 'web-2') }))), { mode: 'unchanged', changes: 0, bytes: 0 });
  assert.equal((await dp.apply(m2, { full: true })).mode, 'full');
});

test('a refused update keeps the old ruleset, says so, and the next apply is full', async () => {
  const nft = fakeRunner();
  const dp = new PolicyDataplane({ runDir: '/run/twill-test', nft });
  const m1 = compilePolicy(shopSnapshot());
  await dp.apply(m1);
  const before = nft.fake.dump('twill-policy');
  nft.failNext = true;
  const m2 = compilePolicy(shopSnapshot({ policies: [] }));
  await assert.rejects(dp.apply(m2), (e) => isTwillError(e, 'KERNEL') && /No such file or directory\).*previous ruleset is still in force/.test(e.message) && /kept at \/run\/twill-test\/nft\/twill-policy\.nft/.test(e.details ?? ''));
  assert.equal(nft.fake.dump('twill-policy'), before);
  assert.equal(dp.applied, undefined);
  assert.equal((await dp.apply(m2)).mode, 'full');
  assert.equal(nft.fake.dump('twill-policy'), fresh(m2));
});

test('counters need an applied model; remove deletes the table', async () => {
  const nft = fakeRunner();
  const dp = new PolicyDataplane({ runDir: '/run/twill-test', nft });
  await assert.rejects(dp.counters(), (e) => isTwillError(e, 'NOT_FOUND'));
  await dp.apply(compilePolicy(shopSnapshot()));
  assert.deepEqual((await dp.counters()).spoofed, { packets: 0, bytes: 0 });
  await dp.remove('twill-policy');
  assert.equal(nft.fake.tables.has('twill-policy'), false);
  await dp.remove('twill-policy');
});
