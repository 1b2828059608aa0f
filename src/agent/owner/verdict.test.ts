import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exitMode, type Observations } from './verdict.js';

const base: Observations = { daemonSet: 'present', namespace: 'present', everSynced: true };

test('kd a rolling update (DaemonSet and namespace stay) keeps the datapath', () => {
  assert.equal(exitMode(base), 'keep');
  assert.equal(exitMode({ ...base, fresh: { daemonSet: 'present', namespace: 'present' } }), 'keep');
});

test('kd the DaemonSet or its namespace going means uninstall', () => {
  assert.equal(exitMode({ ...base, daemonSet: 'gone' }), 'uninstall');
  assert.equal(exitMode({ ...base, daemonSet: 'deleting' }), 'uninstall');
  assert.equal(exitMode({ ...base, namespace: 'deleting' }), 'uninstall');
  assert.equal(exitMode({ ...base, fresh: { daemonSet: 'gone', namespace: 'present' } }), 'uninstall');
  assert.equal(exitMode({ ...base, fresh: { daemonSet: 'present', namespace: 'deleting' } }), 'uninstall');
});

test('kd credentials revoked after a sync mean uninstall; before any sync, or other failures, keep', () => {
  assert.equal(exitMode({ ...base, fresh: { status: 401 } }), 'uninstall');
  assert.equal(exitMode({ ...base, fresh: { status: 403 } }), 'uninstall');
  assert.equal(exitMode({ ...base, daemonSet: 'unknown', namespace: 'unknown', everSynced: false, fresh: { status: 403 } }), 'keep');
  assert.equal(exitMode({ ...base, fresh: { status: 500 } }), 'keep');
  assert.equal(exitMode({ ...base, daemonSet: 'unknown', namespace: 'unknown', everSynced: false }), 'keep');
});
