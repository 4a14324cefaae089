import { X509Certificate } from 'node:crypto';
import { asArray, decodeCbor, encodeCbor, originalBytes } from './cbor.js';
import { HASH_TYPE, hash, PK_TYPE, parseSign1 } from './crypto.js';
import { FdoError } from './errors.js';
import { type Voucher, verifyVoucher } from './voucher.js';

/** What `murm fdo voucher show` prints: readable even when the voucher does not verify. */
export type VoucherSummary = {
  guid: string;
  deviceInfo: string;
  protocolVersion: number;
  manufacturerKey: { type: string; hash: string };
  headerHmacType: string;
  rendezvous: string[];
  deviceCertificates: { subject: string; issuer: string; validFrom: string; validTo: string }[];
  entries: { index: number; keyType: string; keyHash: string }[];
  ownerKeyHash: string;
  verification: { isValid: boolean; code?: number; detail: string };
};

const KEY_TYPE_NAMES = new Map<number, string>(Object.entries(PK_TYPE).map(([name, value]) => [value, name]));
const HASH_NAMES = new Map<number, string>([
  [HASH_TYPE.SHA256, 'SHA256'],
  [HASH_TYPE.SHA384, 'SHA384'],
  [HASH_TYPE.HMAC_SHA256, 'HMAC-SHA256'],
  [HASH_TYPE.HMAC_SHA384, 'HMAC-SHA384'],
]);
const RV_VARIABLES = [
  'dev-only',
  'owner-only',
  'ip',
  'dev-port',
  'owner-port',
  'dns',
  'sv-cert-hash',
  'cl-cert-hash',
  'user-input',
  'wifi-ssid',
  'wifi-pw',
  'medium',
  'protocol',
  'delay-sec',
  'bypass',
  'ext-rv',
];
const RV_PROTOCOLS = ['rest', 'http', 'https', 'tcp', 'tls', 'coap-tcp', 'coap-udp'];

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function rvValue(variable: number, raw: unknown): string {
  if (!(raw instanceof Uint8Array)) return '';
  let value: unknown;
  try {
    value = decodeCbor(raw);
  } catch {
    return `h'${hex(raw)}'`;
  }
  if (variable === 2 && value instanceof Uint8Array && value.length === 4) return value.join('.');
  if (variable === 2 && value instanceof Uint8Array && value.length === 16) {
    return (hex(value).match(/.{4}/g) ?? []).join(':');
  }
  if (variable === 12 && typeof value === 'number') return RV_PROTOCOLS[value] ?? String(value);
  if (value instanceof Uint8Array) return `h'${hex(value)}'`;
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : `h'${hex(raw)}'`;
}

/** One line per RendezvousDirective, e.g. `ip=192.168.122.1 dev-port=8082 protocol=http`. */
function describeRvInfo(rvInfo: unknown[]): string[] {
  return rvInfo.map((directive) =>
    (Array.isArray(directive) ? directive : [])
      .map((instr) => {
        const [variable, value] = Array.isArray(instr) ? instr : [];
        const name = typeof variable === 'number' ? (RV_VARIABLES[variable] ?? `var${variable}`) : '?';
        const text = typeof variable === 'number' ? rvValue(variable, value) : '';
        return text === '' ? name : `${name}=${text}`;
      })
      .join(' '),
  );
}

function describeEntry(entry: Voucher['entries'][number], index: number): VoucherSummary['entries'][number] {
  try {
    const payload = asArray(decodeCbor(parseSign1(entry.sign1).payload), 4);
    const key = asArray(payload[3], 3);
    return {
      index,
      keyType: KEY_TYPE_NAMES.get(key[0] as number) ?? String(key[0]),
      keyHash: hex(hash(HASH_TYPE.SHA384, originalBytes(payload[3]) ?? encodeCbor(payload[3]))),
    };
  } catch {
    return { index, keyType: 'undecodable', keyHash: '' };
  }
}

function describeCertificates(chain: Uint8Array[] | null): VoucherSummary['deviceCertificates'] {
  return (chain ?? []).map((der) => {
    try {
      const cert = new X509Certificate(der);
      const name = (dn: string) => dn.split('\n').join(', ');
      return {
        subject: name(cert.subject),
        issuer: name(cert.issuer),
        validFrom: new Date(cert.validFrom).toISOString(),
        validTo: new Date(cert.validTo).toISOString(),
      };
    } catch {
      return { subject: 'undecodable certificate', issuer: '', validFrom: '', validTo: '' };
    }
  });
}

/** Decodes and verifies a parsed voucher at `now`; verification failures are reported, not thrown. */
export function summarizeVoucher(v: Voucher, now: Date): VoucherSummary {
  const entries = v.entries.map(describeEntry);
  const manufacturerKeyHash = hex(hash(HASH_TYPE.SHA384, v.header.manufacturerKeyBytes));
  let verification: VoucherSummary['verification'];
  try {
    verifyVoucher(v, { now, allowNoEntries: true });
    verification = {
      isValid: true,
      detail:
        entries.length === 0
          ? 'valid; no entries yet (the manufacturer still owns it): extend it to an owner before TO0'
          : 'valid: header, device certificate chain, hash chain and every entry signature check out',
    };
  } catch (err) {
    if (!(err instanceof FdoError)) throw err;
    verification = { isValid: false, code: err.code, detail: err.message };
  }
  return {
    guid: hex(v.header.guid),
    deviceInfo: v.header.deviceInfo,
    protocolVersion: 101,
    manufacturerKey: {
      type: KEY_TYPE_NAMES.get(v.header.manufacturerKey.type) ?? String(v.header.manufacturerKey.type),
      hash: manufacturerKeyHash,
    },
    headerHmacType: HASH_NAMES.get(v.hmac.type) ?? String(v.hmac.type),
    rendezvous: describeRvInfo(v.header.rvInfo),
    deviceCertificates: describeCertificates(v.certChain),
    entries,
    ownerKeyHash: entries.at(-1)?.keyHash ?? manufacturerKeyHash,
    verification,
  };
}
