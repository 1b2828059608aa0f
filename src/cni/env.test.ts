import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTwillError } from '../util/errors.js';
import { containerIdProblem, ifnameProblem, parseCniArgs } from './env.js';

describe('CNI_CONTAINERID rule', () => {
  it('accepts what runtimes send', () => {
    for (const id of ['a', '0123abcdef', 'pod_1.ctr-2', 'A'.repeat(64)]) assert.equal(containerIdProblem(id), undefined, id);
  });
  it('rejects empty, a leading symbol, and anything outside [A-Za-z0-9_.-]', () => {
    for (const id of ['', '-a', '.a', '_a', 'a/b', 'a b', 'a:b', 'ä']) assert.ok(containerIdProblem(id), id);
  });
});

describe('CNI_IFNAME rule (Linux dev_valid_name)', () => {
  it('accepts up to 15 bytes of anything else', () => {
    for (const n of ['eth0', 'net1', 'a', 'x'.repeat(15), 'a.b-c_d@e']) assert.equal(ifnameProblem(n), undefined, n);
  });
  it('rejects empty, too long (in bytes), ".", "..", "/", ":" and whitespace', () => {
    for (const n of ['', 'x'.repeat(16), 'é'.repeat(8), '.', '..', 'a/b', 'eth0:1', 'a b', 'a\tb', 'a\nb', 'a\u00a0b']) {
      assert.ok(ifnameProblem(n), JSON.stringify(n));
    }
    assert.match(ifnameProblem('x'.repeat(16))!, /16 bytes.*at most 15/);
  });
});

describe('parseCniArgs', () => {
  it('reads KEY=VALUE pairs and tolerates empty segments', () => {
    const m = parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;');
    assert.deepEqual([...m], [['IgnoreUnknown', '1'], ['K8S_POD_NAMESPACE', 'default'], ['K8S_POD_NAME', 'web-0']]);
    assert.equal(parseCniArgs('').size, 0);
    assert.equal(parseCniArgs('K=').get('K'), '');
  });
  it('rejects pairs without exactly one "=" or without a key, naming CNI_ARGS', () => {
    for (const s of ['K', 'K=V=W', '=V', 'A=1;B']) {
      assert.throws(() => parseCniArgs(s), (e) => isTwillError(e, 'ENV_INVALID') && e.message.includes('CNI_ARGS'), s);
    }
  });
});
