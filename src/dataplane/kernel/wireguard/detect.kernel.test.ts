// Which WireGuard runs is decided by asking the kernel for its generic netlink family. This test
// checks the answer against /sys/module/wireguard on whatever kernel runs it (this one has no
// module: userspace), and the errors when the choice is forced or nothing exists.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { isTwillError } from '../../../util/errors.js';
import { kernelWireguardFamily, selectWireguard } from './index.js';

const hasModule = existsSync('/sys/module/wireguard');

test('kernelWireguardFamily matches /sys/module/wireguard', async () => {
  const k = await kernelWireguardFamily();
  if (k.id !== undefined) k.sock.socket.socket.close();
  assert.equal(k.id !== undefined, hasModule, hasModule ? 'the module is loaded: the family must resolve' : `no module: ${k.id === undefined ? k.why : 'resolved anyway?'}`);
  if (k.id === undefined) assert.match(k.why, /no wireguard module/);
});

test('selectWireguard: kernel when the module exists, else wireguard-go, saying why', async () => {
  const sel = await selectWireguard('twill-wg', { ...process.env, TWILL_WIREGUARD: '' });
  assert.equal(sel.implementation, hasModule ? 'kernel' : 'userspace');
  if (sel.implementation === 'kernel') sel.device.close();
  else assert.match(sel.why, /unknown to this kernel.*using .*wireguard-go/);
});

test('selectWireguard: forced kernel without the module, and neither implementation, are clear errors', { skip: hasModule && 'this kernel has the module' }, async () => {
  await assert.rejects(selectWireguard('twill-wg', { TWILL_WIREGUARD: 'kernel' }), (e) => isTwillError(e, 'KERNEL') && /TWILL_WIREGUARD=kernel, but .*no wireguard module/.test(e.message));
  const saved = process.env['TWILL_WIREGUARD_GO'];
  process.env['TWILL_WIREGUARD_GO'] = '/nonexistent/wireguard-go';
  try {
    await assert.rejects(selectWireguard('twill-wg', {}), (e) => isTwillError(e, 'KERNEL') && /has neither/.test(e.message) && /scripts\/externals\/build.sh wireguard-go/.test(e.message));
  } finally {
    if (saved === undefined) delete process.env['TWILL_WIREGUARD_GO'];
    else process.env['TWILL_WIREGUARD_GO'] = saved;
  }
  await assert.rejects(selectWireguard('twill-wg', { TWILL_WIREGUARD: 'magic' }), (e) => isTwillError(e, 'CONFIG_INVALID'));
});

test('selectWireguard in a pod (Kubernetes): no wireguard-go in the agent\'s container unless forced, and it says why', { skip: hasModule && 'this kernel has the module' }, async () => {
  await assert.rejects(selectWireguard('twill-wg', { KUBERNETES_SERVICE_HOST: '10.96.0.1' }), (e) => isTwillError(e, 'KERNEL') && /needs kernel WireGuard today/.test(e.message) && /die with the container/.test(e.message) && /modprobe wireguard/.test(e.message));
  const sel = await selectWireguard('twill-wg', { KUBERNETES_SERVICE_HOST: '10.96.0.1', TWILL_WIREGUARD: 'userspace' });
  assert.equal(sel.implementation, 'userspace');
  assert.match(sel.why, /dies with it on a rollout/);
});
