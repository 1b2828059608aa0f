import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabelSelector } from './types.js';
import { labelKeyProblem, labelValueProblem, portNameProblem, selectorMatches } from './labels.js';

const L = { app: 'web', tier: 'fe', empty: '' };

test('selectorMatches: matchLabels and every operator, including missing keys', () => {
  const cases: [LabelSelector, boolean][] = [
    [{}, true],
    [{ matchLabels: {} }, true],
    [{ matchLabels: { app: 'web' } }, true],
    [{ matchLabels: { app: 'web', tier: 'be' } }, false],
    [{ matchLabels: { missing: 'x' } }, false],
    [{ matchLabels: { empty: '' } }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['db', 'web'] }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] }, false],
    [{ matchExpressions: [{ key: 'missing', operator: 'In', values: ['x'] }] }, false],
    [{ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }, false],
    [{ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }] }, true],
    [{ matchExpressions: [{ key: 'missing', operator: 'NotIn', values: ['x'] }] }, true],
    [{ matchExpressions: [{ key: 'empty', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'missing', operator: 'Exists' }] }, false],
    [{ matchExpressions: [{ key: 'missing', operator: 'DoesNotExist' }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
    [{ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['be'] }] }, false],
    [{ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'Exists' }, { key: 'v', operator: 'DoesNotExist' }] }, true],
  ];
  for (const [sel, want] of cases) assert.equal(selectorMatches(sel, L), want, JSON.stringify(sel));
});

test('label key, label value and port name syntax', () => {
  assert.equal(labelKeyProblem('app'), undefined);
  assert.equal(labelKeyProblem('kubernetes.io/metadata.name'), undefined);
  assert.equal(labelKeyProblem('a_b.c-d'), undefined);
  assert.match(labelKeyProblem('')!, /empty/);
  assert.match(labelKeyProblem('-app')!, /starting and ending/);
  assert.match(labelKeyProblem('Bad_Prefix/app')!, /prefix/);
  assert.match(labelKeyProblem('x/')!, /empty/);
  assert.match(labelKeyProblem('a'.repeat(64))!, /63/);
  assert.equal(labelValueProblem(''), undefined);
  assert.equal(labelValueProblem('v1.2_b'), undefined);
  assert.match(labelValueProblem('a b')!, /letters/);
  assert.equal(portNameProblem('http'), undefined);
  assert.equal(portNameProblem('h2c-port'), undefined);
  assert.match(portNameProblem('80')!, /letter/);
  assert.match(portNameProblem('HTTP')!, /lowercase/);
  assert.match(portNameProblem('a--b')!, /--/);
  assert.match(portNameProblem('-a')!, /start or end/);
  assert.match(portNameProblem('abcdefghijklmnop')!, /15/);
});
