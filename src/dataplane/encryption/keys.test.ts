import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isTwillError } from '../../util/errors.js';
import { generatePrivateKey, isWireguardKey, keyFromHex, keyToHex, loadOrCreateKey, publicKeyOf, writeNewKey } from './keys.js';

test('publicKeyOf: RFC 7748 section 6.1 X25519 test vector', () => {
  const alice = keyFromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  assert.equal(keyToHex(publicKeyOf(alice)), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
});

test('generatePrivateKey: clamped like wg genkey', () => {
  for (let i = 0; i < 20; i++) {
    const k = generatePrivateKey();
    assert.equal(k[0]! & 7, 0);
    assert.equal(k[31]! & 0xc0, 0x40);
    assert.ok(isWireguardKey(k.toString('base64')));
  }
  assert.equal(isWireguardKey('abc'), false);
  assert.equal(isWireguardKey(Buffer.alloc(31).toString('base64')), false);
});

test('loadOrCreateKey: created 0600 once, then read back; rotation replaces it; garbage is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'twill-wg-keys-'));
  try {
    const file = join(dir, 'wireguard', 'private.key');
    const a = await loadOrCreateKey(file);
    assert.equal(a.created, true);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await readFile(file, 'utf8')).trim(), a.privateKey);
    const b = await loadOrCreateKey(file);
    assert.deepEqual(b, { ...a, created: false });
    const c = await writeNewKey(file);
    assert.notEqual(c.publicKey, a.publicKey);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await writeFile(file, 'not a key\n');
    await assert.rejects(loadOrCreateKey(file), (e) => isTwillError(e, 'CONFIG_INVALID') && e.message.includes(file) && !e.message.includes('not a key'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
