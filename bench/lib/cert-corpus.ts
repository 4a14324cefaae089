// The certificate corpus of the certificate benchmark: N distinct, real X.509 v3 certificates (PEM,
// one per `.crt` file, 10 per directory, directories nested two levels: certs/00/0000/ … 99/9999/),
// all issued by one bench CA. Validity varies: 3% expired, 7% expiring within the next 8–28 days,
// 90% valid for 45 days or more. Generated once and cached outside the repository:
//
//   ${XDG_CACHE_HOME:-~/.cache}/murm-bench/certs-100k/{certs/, ca.crt, complete.json}
//
// complete.json is written last: without it (an interrupted run) the directory is generated again;
// so it is after 7 days, so that "expiring" certificates never turn expired between runs.
// Speed: one leaf key pair and one CA key for all certificates; each TBSCertificate is DER-encoded
// here and signed with node:crypto (ECDSA P-256, SHA-256) — about 20 µs a certificate, against
// ~1.7 ms with @peculiar/x509 — then written with bounded concurrency.
import { execFileSync } from 'node:child_process';
import {
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from './children.js';
import {
  bits,
  bool,
  explicit,
  implicit,
  octets,
  oid,
  pem,
  seq,
  set,
  smallInt,
  time,
  uint,
  utf8,
} from './der.js';

/** Bumped whenever the layout or the contents change: an older cache is generated again. */
const CORPUS_VERSION = 1;
const PER_DIRECTORY = 10;
const MAX_AGE_DAYS = 7;
const WRITE_CONCURRENCY = 32;
const PROGRESS_EVERY = 10_000;
const DAY_MS = 86_400_000;
/** The window in which a certificate counts as expiring (the default alarm threshold, 30 days). */
export const EXPIRING_WINDOW_SECONDS = 30 * 86_400;

export type ExpectedState = 'ok' | 'expiring' | 'expired';

export interface Corpus {
  /** The directory to watch: every file below it is a certificate. */
  root: string;
  /** The issuing CA (outside `root`). */
  caPath: string;
  certificates: number;
  /** Leaf directories (10 certificates each). */
  directories: number;
  /** The instant validities were computed from (generation time, whole seconds). */
  baseTime: Date;
  /** Seconds spent generating, when this run generated the corpus. */
  generatedSeconds?: number;
}

interface Marker {
  version: number;
  certificates: number;
  directories: number;
  perDirectory: number;
  baseTime: string;
  generatedAt: string;
  generatedSeconds: number;
  expected: Record<ExpectedState, number>;
}

function cacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'murm-bench');
}

function corpusDir(certificates: number): string {
  const label = certificates % 1000 === 0 ? `${certificates / 1000}k` : String(certificates);
  return join(cacheRoot(), `certs-${label}`);
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** certs/<dir / 100>/<dir>/cert-<index>.crt, e.g. certs/42/4217/cert-042173.crt. */
function relativeDir(dir: number): string {
  return join(pad(Math.floor(dir / 100), 2), pad(dir, 4));
}

function category(index: number): ExpectedState {
  const bucket = (index * 7) % 100; // a permutation of each block of 100: exact shares, spread out
  return bucket < 3 ? 'expired' : bucket < 10 ? 'expiring' : 'ok';
}

/** notBefore / notAfter of certificate `index`, from the corpus base time. Deterministic. */
function validity(index: number, base: Date): { notBefore: Date; notAfter: Date } {
  const t = base.getTime();
  const at = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);
  switch (category(index)) {
    case 'expired': {
      const notAfter = t - DAY_MS - (index % 365) * DAY_MS - (index % 3600) * 1000;
      return { notBefore: at(notAfter - 365 * DAY_MS), notAfter: at(notAfter) };
    }
    case 'expiring': {
      // 8 days + up to 20 days: still expiring (not expired) for the whole MAX_AGE_DAYS of the cache.
      const notAfter = t + 8 * DAY_MS + (index % 20) * DAY_MS + (index % 86_400) * 1000;
      const lifetime = index % 2 === 0 ? 90 * DAY_MS : 365 * DAY_MS;
      return { notBefore: at(notAfter - lifetime), notAfter: at(notAfter) };
    }
    case 'ok': {
      const notAfter = t + 45 * DAY_MS + (index % 1000) * DAY_MS + (index % 3600) * 1000;
      return { notBefore: at(t - (index % 90) * DAY_MS - 3_600_000), notAfter: at(notAfter) };
    }
  }
}

/** How many certificates of the corpus are ok / expiring / expired at `now`. */
export function expectedStates(corpus: Corpus, now: Date): Record<ExpectedState, number> {
  const counts: Record<ExpectedState, number> = { ok: 0, expiring: 0, expired: 0 };
  for (let i = 0; i < corpus.certificates; i++) {
    const left = validity(i, corpus.baseTime).notAfter.getTime() - now.getTime();
    counts[left <= 0 ? 'expired' : left <= EXPIRING_WINDOW_SECONDS * 1000 ? 'expiring' : 'ok']++;
  }
  return counts;
}

// --- X.509 -------------------------------------------------------------------------------------

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';
const OID_OU = '2.5.4.11';

const name = (...rdns: [string, string][]): Buffer =>
  seq(...rdns.map(([type, value]) => set(seq(oid(type), utf8(value)))));

const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));

interface Issuer {
  name: Buffer;
  key: KeyObject;
  keyId: Buffer;
}

interface CertificateSpec {
  serial: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: Buffer[];
}

function certificateDer(spec: CertificateSpec, issuer: Issuer): Buffer {
  const tbs = seq(
    explicit(0, smallInt(2)), // v3
    uint(spec.serial),
    ECDSA_SHA256,
    issuer.name,
    seq(time(spec.notBefore), time(spec.notAfter)),
    spec.subject,
    spec.spki,
    explicit(3, seq(...spec.extensions)),
  );
  const signature = sign('sha256', tbs, { key: issuer.key, dsaEncoding: 'der' });
  return seq(tbs, ECDSA_SHA256, bits(signature));
}

const keyId = (spki: Buffer): Buffer => createHash('sha1').update(spki).digest();

interface Generator {
  caPem: string;
  leaf: (index: number) => string;
}

function generator(base: Date): Generator {
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const leafKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caSpki = ca.publicKey.export({ type: 'spki', format: 'der' });
  const leafSpki = leafKeys.publicKey.export({ type: 'spki', format: 'der' });
  const caName = name([OID_O, 'Murmuration bench'], [OID_CN, 'Murmuration bench certificate CA']);
  const issuer: Issuer = { name: caName, key: ca.privateKey, keyId: keyId(caSpki) };
  const caDer = certificateDer(
    {
      serial: Buffer.concat([Buffer.from([0x02]), randomBytes(15)]),
      subject: caName,
      notBefore: new Date(base.getTime() - 2000 * DAY_MS),
      notAfter: new Date(base.getTime() + 3650 * DAY_MS),
      spki: caSpki,
      extensions: [
        extension('2.5.29.19', true, seq(bool(true))), // basicConstraints: CA
        extension('2.5.29.15', true, bits(Buffer.from([0x06]), 1)), // keyUsage: keyCertSign, cRLSign
        extension('2.5.29.14', false, octets(issuer.keyId)), // subjectKeyIdentifier
      ],
    },
    issuer,
  );
  // Constant parts of every leaf.
  const serialPrefix = Buffer.concat([Buffer.from([0x01]), randomBytes(11)]);
  const leafKeyId = keyId(leafSpki);
  const fixed = [
    extension('2.5.29.19', true, seq()), // basicConstraints: not a CA
    extension('2.5.29.15', true, bits(Buffer.from([0x80]), 7)), // keyUsage: digitalSignature
    extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
    extension('2.5.29.14', false, octets(leafKeyId)),
    extension('2.5.29.35', false, seq(implicit(0, issuer.keyId))), // authorityKeyIdentifier
  ];
  return {
    caPem: pem('CERTIFICATE', caDer),
    leaf: (index) => {
      const host = `leaf-${pad(index, 6)}.bench.murm.test`;
      const serial = Buffer.alloc(serialPrefix.length + 4);
      serialPrefix.copy(serial);
      serial.writeUInt32BE(index, serialPrefix.length);
      const san = extension('2.5.29.17', false, seq(implicit(2, Buffer.from(host, 'ascii'))));
      const der = certificateDer(
        {
          serial,
          subject: name(
            [OID_O, 'Murmuration bench'],
            [OID_OU, `d${pad(Math.floor(index / PER_DIRECTORY), 4)}`],
            [OID_CN, host],
          ),
          ...validity(index, base),
          spki: leafSpki,
          extensions: [...fixed, san],
        },
        issuer,
      );
      return pem('CERTIFICATE', der);
    },
  };
}

// --- Cache -------------------------------------------------------------------------------------

function readMarker(path: string): Marker | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Marker;
  } catch {
    return undefined;
  }
}

function certificatePath(root: string, index: number): string {
  return join(root, relativeDir(Math.floor(index / PER_DIRECTORY)), `cert-${pad(index, 6)}.crt`);
}

/**
 * Checks a sample of the written files: node:crypto parses each and verifies its signature against
 * the CA, and (when openssl is on PATH) `openssl verify` agrees. Throws on any mismatch.
 */
function verifySample(root: string, caPath: string, certificates: number, base: Date): number {
  const ca = new X509Certificate(readFileSync(caPath));
  const picks = new Set([0, 1, 2, PER_DIRECTORY, 12_345 % certificates, certificates - 1]);
  for (const state of ['expired', 'expiring', 'ok'] as const) {
    for (let i = 0; i < Math.min(certificates, 200); i++) {
      if (category(i) === state) {
        picks.add(i);
        break;
      }
    }
  }
  const files = [...picks].map((i) => certificatePath(root, i));
  for (const [n, i] of [...picks].entries()) {
    const file = files[n] as string;
    const cert = new X509Certificate(readFileSync(file));
    const want = validity(i, base);
    if (!cert.verify(ca.publicKey) || !cert.checkIssued(ca)) throw new Error(`${file}: not signed by the CA`);
    if (new Date(cert.validTo).getTime() !== want.notAfter.getTime()) {
      throw new Error(`${file}: notAfter ${cert.validTo}, expected ${want.notAfter.toISOString()}`);
    }
    if (!cert.subject.includes(`leaf-${pad(i, 6)}`)) throw new Error(`${file}: subject ${cert.subject}`);
  }
  const openssl = findExecutable(['openssl'], []);
  if (openssl !== undefined) {
    // -no_check_time: the sample includes expired certificates on purpose.
    const out = execFileSync(openssl, ['verify', '-no_check_time', '-CAfile', caPath, ...files], {
      encoding: 'utf8',
    });
    const ok = out.split('\n').filter((line) => line.endsWith(': OK')).length;
    if (ok !== files.length) throw new Error(`openssl verify: ${ok} of ${files.length} OK:\n${out}`);
  }
  return files.length;
}

/** The cached corpus of `certificates` certificates, generated first if absent, incomplete or stale. */
export async function ensureCorpus(certificates: number, log: (msg: string) => void): Promise<Corpus> {
  if (!Number.isInteger(certificates) || certificates <= 0 || certificates > 100_000) {
    throw new Error('the corpus holds 1 … 100,000 certificates');
  }
  if (certificates % PER_DIRECTORY !== 0)
    throw new Error(`certificates must be a multiple of ${PER_DIRECTORY}`);
  const dir = corpusDir(certificates);
  const root = join(dir, 'certs');
  const caPath = join(dir, 'ca.crt');
  const markerPath = join(dir, 'complete.json');
  const directories = certificates / PER_DIRECTORY;
  const marker = readMarker(markerPath);
  const ageDays = marker ? (Date.now() - Date.parse(marker.generatedAt)) / DAY_MS : Number.NaN;
  if (
    marker &&
    marker.version === CORPUS_VERSION &&
    marker.certificates === certificates &&
    ageDays >= 0 &&
    ageDays < MAX_AGE_DAYS
  ) {
    log(`corpus: cached at ${dir} (generated ${marker.generatedAt}, ${ageDays.toFixed(1)} days ago)`);
    return { root, caPath, certificates, directories, baseTime: new Date(marker.baseTime) };
  }
  if (existsSync(dir)) {
    const why =
      marker === undefined ? 'incomplete' : `stale (${ageDays.toFixed(1)} days old or other version)`;
    log(`corpus: ${dir} is ${why}; generating it again`);
    rmSync(dir, { recursive: true, force: true });
  }
  log(`corpus: generating ${certificates} certificates in ${directories} directories at ${dir}`);
  const t0 = performance.now();
  const base = new Date(Math.floor(Date.now() / 1000) * 1000);
  const gen = generator(base);
  await mkdir(root, { recursive: true });
  await writeFile(caPath, gen.caPem);
  let nextDir = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (nextDir < directories) {
      const d = nextDir++;
      const path = join(root, relativeDir(d));
      await mkdir(path, { recursive: true });
      const writes: Promise<void>[] = [];
      for (let i = d * PER_DIRECTORY; i < (d + 1) * PER_DIRECTORY; i++) {
        writes.push(writeFile(certificatePath(root, i), gen.leaf(i)));
      }
      await Promise.all(writes);
      done += PER_DIRECTORY;
      if (done % PROGRESS_EVERY === 0 || done === certificates) {
        log(`corpus:   ${done} certificates, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
    }
  };
  await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, worker));
  const checked = verifySample(root, caPath, certificates, base);
  const generatedSeconds = (performance.now() - t0) / 1000;
  const corpus: Corpus = { root, caPath, certificates, directories, baseTime: base, generatedSeconds };
  const written: Marker = {
    version: CORPUS_VERSION,
    certificates,
    directories,
    perDirectory: PER_DIRECTORY,
    baseTime: base.toISOString(),
    generatedAt: new Date().toISOString(),
    generatedSeconds,
    expected: expectedStates(corpus, base),
  };
  await writeFile(markerPath, `${JSON.stringify(written, null, 2)}\n`); // last: marks the corpus complete
  log(`corpus: done in ${generatedSeconds.toFixed(1)} s (${checked} sampled certificates verified)`);
  return corpus;
}
