// WireGuard keys: X25519 through node:crypto. The private key lives in one file (0600) in the
// node's state dir; it is written once, read by the agent and handed to the device, and never
// sent to the datastore or logged. Node records carry the public key, base64 as `wg` prints it.
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TwillError, errnoCode } from '../../util/errors.js';

// PKCS#8 wrapping of a raw X25519 private key (RFC 8410): node:crypto imports it, then derives.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export interface KeyPair {
  /** base64 of the 32 raw bytes; the only copy outside the device is the key file. */
  privateKey: string;
  publicKey: string;
}

export function isWireguardKey(s: unknown): s is string {
  return typeof s === 'string' && /^[A-Za-z0-9+/]{43}=$/.test(s) && Buffer.from(s, 'base64').length === 32;
}

/** Clamped as Curve25519 requires (what `wg genkey` does), so the file reads the same everywhere. */
export function generatePrivateKey(): Buffer {
  const k = randomBytes(32);
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  return k;
}

export function publicKeyOf(privateKey: string): string {
  const raw = Buffer.from(privateKey, 'base64');
  if (raw.length !== 32) throw new TwillError('CONFIG_INVALID', 'WireGuard private key must be 32 bytes of base64');
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32).toString('base64');
}

/** UAPI and the kernel's netlink take the raw 32 bytes; UAPI writes them as hex. */
export function keyToHex(base64: string): string {
  return Buffer.from(base64, 'base64').toString('hex');
}

export function keyFromHex(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

/** Reads the node's key, creating it (0600) on first start. */
export async function loadOrCreateKey(file: string): Promise<KeyPair & { created: boolean }> {
  try {
    const privateKey = (await readFile(file, 'utf8')).trim();
    if (!isWireguardKey(privateKey)) {
      throw new TwillError('CONFIG_INVALID', `${file} does not hold a WireGuard private key (32 bytes of base64); move it away to let the agent create a new one`);
    }
    return { privateKey, publicKey: publicKeyOf(privateKey), created: false };
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw e;
  }
  return { ...(await writeNewKey(file)), created: true };
}

/** Replaces the node's key with a new one (rotation); the old file is overwritten atomically. */
export async function writeNewKey(file: string): Promise<KeyPair> {
  const privateKey = generatePrivateKey().toString('base64');
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, privateKey + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}
