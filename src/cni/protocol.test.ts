import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTwillError, TwillError } from '../util/errors.js';
import { parseInvocation, runCni, toCniRequest, type CniEnv, type Invocation } from './protocol.js';

const NETNS = '/run/netns/pod-a';
const CONF = { cniVersion: '1.1.0', name: 'twill', type: 'twill-cni' };
const PREV = { cniVersion: '1.1.0', ips: [{ address: '10.244.1.5/32' }] };

function input(env: CniEnv, config: unknown = CONF, exists: readonly string[] = [NETNS]) {
  const stdin = Buffer.from(typeof config === 'string' ? config : JSON.stringify(config));
  return { env, stdin, netnsExists: (p: string) => exists.includes(p) };
}

function io(env: CniEnv, config: unknown = CONF, exists: readonly string[] = [NETNS]) {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      ...input(env, config, exists),
      stdout: { write: (s: string) => void (out.stdout += s) },
      stderr: { write: (s: string) => void (out.stderr += s) },
    },
  };
}

const ATTACH = { CNI_CONTAINERID: 'ctr1', CNI_IFNAME: 'eth0' };

describe('parseInvocation: what each command needs (SPEC.md section 2)', () => {
  it('ADD needs CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME; CNI_ARGS and CNI_PATH are optional', () => {
    const inv = parseInvocation(input({ CNI_COMMAND: 'ADD', ...ATTACH, CNI_NETNS: NETNS })) as Invocation;
    assert.deepEqual(toCniRequest(inv), { command: 'ADD', containerId: 'ctr1', netns: NETNS, ifname: 'eth0', config: CONF });
    const full = parseInvocation(input({ CNI_COMMAND: 'ADD', ...ATTACH, CNI_NETNS: NETNS, CNI_ARGS: 'K8S_POD_NAME=web-0', CNI_PATH: '/opt/cni/bin' }));
    assert.deepEqual(toCniRequest(full as Invocation), {
      command: 'ADD', containerId: 'ctr1', netns: NETNS, ifname: 'eth0', args: 'K8S_POD_NAME=web-0', path: '/opt/cni/bin', config: CONF,
    });
  });

  it('CHECK needs what ADD needs, plus a prevResult', () => {
    const inv = parseInvocation(input({ CNI_COMMAND: 'CHECK', ...ATTACH, CNI_NETNS: NETNS }, { ...CONF, prevResult: PREV })) as Invocation;
    assert.equal(inv.command, 'CHECK');
    assert.deepEqual(inv.conf.prevResult, PREV);
  });

  it('DEL needs no CNI_NETNS, and never fails because the netns is gone', () => {
    const bare = parseInvocation(input({ CNI_COMMAND: 'DEL', ...ATTACH })) as Invocation;
    assert.equal(bare.netns, undefined);
    const gone = parseInvocation(input({ CNI_COMMAND: 'DEL', ...ATTACH, CNI_NETNS: '/run/netns/gone' }, CONF, [])) as Invocation;
    assert.equal(gone.netns, '/run/netns/gone');
    const odd = parseInvocation(input({ CNI_COMMAND: 'DEL', ...ATTACH, CNI_NETNS: 'relative/path' }, CONF, [])) as Invocation;
    assert.equal(odd.netns, 'relative/path');
  });

  it('GC needs only CNI_PATH and drops attachment variables', () => {
    const inv = parseInvocation(input({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin', ...ATTACH, CNI_NETNS: 'not/validated' }, { ...CONF, 'cni.dev/valid-attachments': [] }));
    assert.deepEqual(toCniRequest(inv as Invocation), { command: 'GC', path: '/opt/cni/bin', config: { ...CONF, 'cni.dev/valid-attachments': [] } });
  });

  it('STATUS needs nothing but the command', () => {
    const inv = parseInvocation(input({ CNI_COMMAND: 'STATUS' })) as Invocation;
    assert.deepEqual(toCniRequest(inv), { command: 'STATUS', config: CONF });
  });

  it('ADD and CHECK into a missing netns are CONTAINER_UNKNOWN', () => {
    for (const cmd of ['ADD', 'CHECK']) {
      assert.throws(
        () => parseInvocation(input({ CNI_COMMAND: cmd, ...ATTACH, CNI_NETNS: NETNS }, { ...CONF, prevResult: PREV }, [])),
        (e) => isTwillError(e, 'CONTAINER_UNKNOWN'),
      );
    }
  });

  it('reports a stdin read failure as IO', () => {
    const bad = { ...input({ CNI_COMMAND: 'ADD', ...ATTACH, CNI_NETNS: NETNS }), stdinError: new Error('EIO') };
    assert.throws(() => parseInvocation(bad), (e) => isTwillError(e, 'IO'));
  });
});

describe('runCni', () => {
  it('VERSION echoes the requested version, or 1.1.0 without input', async () => {
    for (const [stdin, want] of [['', '1.1.0'], ['{"cniVersion":"0.4.0"}', '0.4.0'], ['{}', '1.1.0'], ['{"cniVersion":"2.0.0"}', '2.0.0']] as const) {
      const t = io({ CNI_COMMAND: 'VERSION' }, stdin);
      assert.equal(await runCni(t.io, () => assert.fail('VERSION must not reach the handler')), 0);
      assert.deepEqual(JSON.parse(t.out.stdout), { cniVersion: want, supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    }
  });

  it('prints what the handler returns, and nothing when it returns nothing', async () => {
    const t = io({ CNI_COMMAND: 'ADD', ...ATTACH, CNI_NETNS: NETNS });
    assert.equal(await runCni(t.io, () => Promise.resolve({ cniVersion: '1.1.0', ips: [] })), 0);
    assert.deepEqual(JSON.parse(t.out.stdout), { cniVersion: '1.1.0', ips: [] });
    const d = io({ CNI_COMMAND: 'DEL', ...ATTACH });
    assert.equal(await runCni(d.io, () => Promise.resolve(undefined)), 0);
    assert.equal(d.out.stdout, '');
  });

  it('prints handler errors as CNI errors in the request version, exit 1', async () => {
    const t = io({ CNI_COMMAND: 'DEL', ...ATTACH }, { ...CONF, cniVersion: '0.4.0' });
    assert.equal(await runCni(t.io, () => Promise.reject(new TwillError('KERNEL', 'netlink said no'))), 1);
    assert.deepEqual(JSON.parse(t.out.stdout), { cniVersion: '0.4.0', code: 101, msg: 'netlink said no' });
  });

  it('uses the config version in early errors when it is one we speak', async () => {
    const t = io({ CNI_COMMAND: 'ADD' }, { ...CONF, cniVersion: '0.3.1' });
    assert.equal(await runCni(t.io, () => assert.fail('unreachable')), 1);
    assert.equal(JSON.parse(t.out.stdout).cniVersion, '0.3.1');
  });

  it('explains itself on stderr when run without CNI_COMMAND', async () => {
    const t = io({});
    assert.equal(await runCni(t.io, () => assert.fail('unreachable')), 1);
    assert.equal(JSON.parse(t.out.stdout).code, 4);
    assert.match(t.out.stderr, /twill-cni.*CNI versions: 0\.3\.0/);
  });
});
