import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CborRaw, encodeCbor } from '../../src/fdo/cbor.js';
import { encodePublicKey, hash, signSign1 } from '../../src/fdo/crypto.js';
import { readDeviceCredential } from '../../src/fdo/device-credential.js';
import { signEat } from '../../src/fdo/eat.js';
import { encodeVoucher, extendVoucher, parseVoucher } from '../../src/fdo/voucher.js';
import { makeCertificate } from './certs.js';
import { REPO_ROOT } from './processes.js';

/** The go-fdo sample data (fdo.md §10). */
export const FDO_VECTORS = path.resolve(import.meta.dirname, '../fixtures/fdo-vectors');
export const SAMPLE_GUID = '66b2146ffec53ca6ad017625990572ce';

/** The sample device (dc.bin): its GUID and private key. */
export function sampleDevice(): { guid: Uint8Array; privateKey: KeyObject } {
  return readDeviceCredential(new Uint8Array(fs.readFileSync(path.join(FDO_VECTORS, 'dc.bin'))));
}

/** ov.pem extended by the manufacturer key to a fresh owner key: raw voucher CBOR and the owner's key. */
export function sampleOwnedVoucher(curve: 'P-256' | 'P-384' = 'P-384'): {
  voucher: Uint8Array;
  ownerKey: KeyObject;
} {
  const owner = generateKeyPairSync('ec', { namedCurve: curve });
  const mfgKey = createPrivateKey(fs.readFileSync(path.join(FDO_VECTORS, 'mfg_key.pem')));
  const base = parseVoucher(fs.readFileSync(path.join(FDO_VECTORS, 'ov.pem'), 'utf8'));
  return { voucher: encodeVoucher(extendVoucher(base, mfgKey, owner.publicKey)), ownerKey: owner.privateKey };
}

/** A TO0.OwnerSign body; every part can be spoiled for a negative test. */
export function ownerSignBody(options: {
  voucher: Uint8Array;
  ownerKey: KeyObject;
  nonce: Uint8Array;
  waitSeconds?: number;
  to2Entries?: unknown[];
  /** Hash the to1d claims for to0d, if not the real one. */
  to0dHash?: Uint8Array;
}): Uint8Array {
  const to0d = encodeCbor([new CborRaw(options.voucher), options.waitSeconds ?? 3600, options.nonce]);
  const entries = options.to2Entries ?? [[Uint8Array.of(192, 0, 2, 10), null, 8043, 3]];
  const payload = encodeCbor([entries, [-43, options.to0dHash ?? hash(-43, to0d)]]);
  return encodeCbor([to0d, signSign1(payload, options.ownerKey)]);
}

/** A TO1.ProveToRV body: an EAT with the nonce and a UEID (label 256 unless told) signed by `key`. */
export function proveToRvBody(options: {
  nonce: Uint8Array;
  guid: Uint8Array;
  key: KeyObject;
  ueidLabel?: number | undefined;
}): Uint8Array {
  const claims = new Map<number, unknown>([[10, options.nonce]]);
  if (options.ueidLabel !== 0) claims.set(options.ueidLabel ?? 256, Uint8Array.of(1, ...options.guid));
  return encodeCbor(signEat(claims, options.key));
}

/** A made-up device: its voucher (already extended to `owner`), GUID and attestation key (PKCS#8 PEM). */
export interface SyntheticDevice {
  guid: Uint8Array;
  voucher: Uint8Array;
  deviceKeyPem: string;
}

/**
 * Devices with their own GUIDs and P-256 device certificates (issued by one device CA), manufactured by
 * a fresh P-384 key and sold to `owner`: what many distinct devices look like to a rendezvous.
 */
export async function syntheticDevices(count: number, owner: KeyObject): Promise<SyntheticDevice[]> {
  const manufacturer = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const notAfter = new Date(Date.now() + 365 * 86_400_000);
  const ca = await makeCertificate({ commonName: 'bench device CA', notAfter, isCa: true });
  const rvInfo = [
    [
      [5, encodeCbor('rv.example')],
      [3, encodeCbor(8040)],
    ],
  ];
  const devices: SyntheticDevice[] = [];
  for (let i = 0; i < count; i++) {
    const leaf = await makeCertificate({ commonName: `device-${i}`, notAfter, issuer: ca });
    const guid = new Uint8Array(randomBytes(16));
    const chainHash = createHash('sha384').update(leaf.der).update(ca.der).digest();
    const header = encodeCbor([
      101,
      guid,
      rvInfo,
      `bench-device-${i}`,
      encodePublicKey(manufacturer.publicKey),
      [-43, new Uint8Array(chainHash)],
    ]);
    // The rendezvous cannot check the header HMAC (it needs the device secret); any value will do.
    const manufactured = encodeCbor([
      101,
      header,
      [6, new Uint8Array(randomBytes(48))],
      [leaf.der, ca.der],
      [],
    ]);
    const sold = extendVoucher(parseVoucher(manufactured), manufacturer.privateKey, owner);
    devices.push({ guid, voucher: encodeVoucher(sold), deviceKeyPem: leaf.keyPem });
  }
  return devices;
}

/**
 * Starts `murm rendezvous` on a free port over the site database in `dataDir`; resolves with the child
 * and the base URL its banner names (killing the child if it never names one).
 */
export async function startRendezvousProcess(options: {
  dataDir: string;
  logLevel: string;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv | undefined;
  /** Node options for the child, before the tsx loader (e.g. `--cpu-prof`). */
  nodeArgs?: string[] | undefined;
}): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      '--import',
      'tsx',
      'src/murm.ts',
      'rendezvous',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      options.dataDir,
      '--log-level',
      options.logLevel,
    ],
    { cwd: REPO_ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`murm rendezvous did not start:\n${output}`)),
      options.timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /\(no token\): (http:\/\/\S+?)\/fdo\//.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`murm rendezvous exited with ${code}:\n${output}`)));
  }).catch((error: unknown) => {
    child.kill('SIGTERM');
    throw error;
  });
  return { child, url };
}
