// PolicyDataplane against the fake ruleset (no root): full first, then diffs, full again after
// any refusal, and the refused transaction leaves the previous ruleset in force.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTwillError } from '../util/errors.js';
import { PolicyDataplane, type NftRunner } from './apply.js';
import { compilePolicy } from './compile.js';
import { diffModels } from './diff.js';
import { NftFake } from './nft-fake.js';
import { renderFullReplace } from './render.js';
import { PODS, shopSnapshot } from './testing/fixtures.js';

function fakeRunner(): NftRunner & { fake: NftFake; scripts: string[]; files: string[]; failNext: boolean; refuseIf: ((script: string) => boolean) | undefined } {
  const r = {
    fake: new NftFake(),
    scripts: [] as string[],
    files: [] as string[],
    failNext: false,
    /** The kernel refuses every transaction this matches (content, not call order). */
    refuseIf: undefined as ((script: string) => boolean) | undefined,
    apply(script: string, file: string): Promise<void> {
      r.scripts.push(script);
      r.files.push(file);
      try {
        // A refusal is the fake kernel's own: the transaction it is given ends with a rule that
        // jumps to a chain that does not exist, and the fake, like the kernel, applies all or nothing.
        r.fake.apply(r.failNext || r.refuseIf?.(script) ? `${script}add rule inet twill-policy forward jump no-such-chain\n` : script);
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      } finally {
        r.failNext = false;
      }
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
  const m2 = compilePolicy(shopSnapshot({ policies: [] }));
  // The kernel refuses the part of this update that comes last: a dataplane that sent it in
  // pieces would leave the first pieces applied.
  const last = diffModels(m1, m2).script.trim().split('\n').pop()!;
  nft.refuseIf = (script) => script.includes(last);
  const sent = nft.scripts.length;
  await assert.rejects(dp.apply(m2), (e) => isTwillError(e, 'KERNEL') && /no-such-chain.*\).*previous ruleset is still in force/.test(e.message) && /kept at \/run\/twill-test\/nft\/twill-policy\.nft/.test(e.details ?? ''));
  assert.equal(nft.scripts.length, sent + 1, 'one transaction, nothing sent after the refusal');
  assert.notEqual(before, fresh(m2), 'the refused update would have changed the ruleset');
  assert.equal(nft.fake.dump('twill-policy'), before);
  assert.equal(dp.applied, undefined);
  nft.refuseIf = undefined;
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
