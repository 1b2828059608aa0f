// The twill-flows table's script (ct-events.ts), as golden files: without a log group (conntrack
// events only) and with one (the reused- and unanswered-entry logs). Its behaviour on a kernel is
// ct-events.kernel.test.ts's and reused-entry.kernel.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertGolden } from '../../test/support/golden.js';
import { ctEventsScript, UNANSWERED_LIMITED_COUNTER } from './ct-events.js';

const golden = (name: string): URL => new URL(`./testdata/${name}.nft`, import.meta.url);

test('golden: events only', () => assertGolden(golden('ct-events'), ctEventsScript()));
test('golden: with the NFLOG group', () => assertGolden(golden('ct-events-logged'), ctEventsScript(100)));

test('an established packet meets the same two rules per hook with or without the unanswered-entry log', () => {
  for (const hook of ['forward', 'input', 'output']) {
    const base = (s: string): string[] => s.split(`  chain ${hook} {\n`)[1]!.split('\n  }')[0]!.split('\n').slice(1);
    assert.deepEqual(base(ctEventsScript(100)).map((l) => l.trim().split(' ')[0]), ['ct', 'tcp']);
    assert.doesNotMatch(base(ctEventsScript(100)).join('\n'), /unanswered/, 'the unanswered check is reached through the new-state verdict only');
  }
  assert.doesNotMatch(ctEventsScript(), new RegExp(`twill U|${UNANSWERED_LIMITED_COUNTER}`));
});
