import type { KeyObject } from 'node:crypto';
import { invalidInput } from '../../core/errors.js';

/** FDO 1.1 message types the rendezvous server speaks (fdo.md §4–§6). */
export const FDO_MESSAGE = {
  TO0_HELLO: 20,
  TO0_HELLO_ACK: 21,
  TO0_OWNER_SIGN: 22,
  TO0_ACCEPT_OWNER: 23,
  TO1_HELLO_RV: 30,
  TO1_HELLO_RV_ACK: 31,
  TO1_PROVE_TO_RV: 32,
  TO1_RV_REDIRECT: 33,
  ERROR: 255,
} as const;

/** Tunables of the rendezvous listener; `DEFAULT_RENDEZVOUS_SETTINGS` holds the defaults. */
export interface RendezvousSettings {
  /** Longest registration granted in TO0 (an owner asking for more gets this). */
  maxWaitSeconds: number;
  /** A protocol exchange (20→22, 30→32) must finish within this time. */
  sessionTtlSeconds: number;
  /** Most live protocol exchanges at once; beyond it new ones are refused. */
  maxSessions: number;
  /** Per source address: new exchanges (messages 20 and 30) per second, and the burst allowed. */
  ratePerSecond: number;
  rateBurst: number;
}

export const DEFAULT_RENDEZVOUS_SETTINGS: RendezvousSettings = {
  maxWaitSeconds: 30 * 86_400,
  sessionTtlSeconds: 120,
  maxSessions: 100_000,
  ratePerSecond: 50,
  rateBurst: 100,
};

/** Largest request body accepted on the FDO listener (fdo.md §1: 64 KiB). */
export const FDO_BODY_LIMIT = 65_536;

/** One TO2 address of a registration (RVTO2AddrEntry), readable. */
export interface To2Address {
  ip: string | null;
  dns: string | null;
  port: number;
  protocol: string;
}

/** An owner's registration for one device, as operators see it. */
export interface Registration {
  guid: string;
  deviceInfo: string;
  ownerKeyHash: string;
  manufacturerKeyHash: string;
  to2Addresses: To2Address[];
  waitSeconds: number;
  /** The owner's address at TO0. */
  source: string;
  registeredAt: string;
  expiresAt: string;
}

/** A registration with what TO1 needs: the to1d bytes and the device's public key (SPKI DER). */
export interface StoredRegistration extends Registration {
  to1d: Uint8Array;
  deviceKey: Uint8Array;
}

export const ACCESS_LISTS = ['allow', 'deny'] as const;
export type AccessList = (typeof ACCESS_LISTS)[number];
export const ACCESS_SUBJECTS = ['owner-key', 'manufacturer-key', 'guid'] as const;
export type AccessSubject = (typeof ACCESS_SUBJECTS)[number];

/**
 * One allow or deny rule. `owner-key` and `manufacturer-key` values are the SHA-384 (hex) of the
 * CBOR-encoded PublicKey (as `murm fdo voucher show` prints them); `guid` values are 32 hex digits.
 */
export interface AccessRule {
  list: AccessList;
  subject: AccessSubject;
  value: string;
  createdAt: string;
}

/** What the rules are matched against: a device's GUID, its owner's key and its manufacturer's key. */
export interface RuleSubjects {
  guid: string;
  ownerKeyHash: string;
  manufacturerKeyHash: string;
}

/**
 * The policy of TO0 and TO1: any deny rule matching the GUID, the owner key or the manufacturer key
 * refuses; when allow rules exist, one of them must match.
 */
export function isAccepted(rules: readonly AccessRule[], subjects: RuleSubjects): boolean {
  const matches = (rule: AccessRule) =>
    rule.value ===
    (rule.subject === 'guid'
      ? subjects.guid
      : rule.subject === 'owner-key'
        ? subjects.ownerKeyHash
        : subjects.manufacturerKeyHash);
  if (rules.some((rule) => rule.list === 'deny' && matches(rule))) return false;
  const allows = rules.filter((rule) => rule.list === 'allow');
  return allows.length === 0 || allows.some(matches);
}

/** Normalises a GUID (hex, dashes allowed) to 32 lowercase hex digits; throws `invalid_input`. */
export function parseGuid(text: string): string {
  const hex = text.replaceAll('-', '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) {
    throw invalidInput(
      'guid',
      `guid "${text}" is not 16 bytes in hex (e.g. 66b2146ffec53ca6ad017625990572ce)`,
    );
  }
  return hex;
}

/** Normalises a key hash to 96 lowercase hex digits (SHA-384); throws `invalid_input`. */
export function parseKeyHash(text: string): string {
  const hex = text.toLowerCase();
  if (!/^[0-9a-f]{96}$/.test(hex)) {
    throw invalidInput(
      'value',
      `key hash "${text}" is not a SHA-384 in hex (96 digits; "murm fdo voucher show" prints it)`,
    );
  }
  return hex;
}

/** Checks a rule's value for its subject and returns it normalised; throws `invalid_input`. */
export function parseRuleValue(subject: AccessSubject, value: string): string {
  return subject === 'guid' ? parseGuid(value) : parseKeyHash(value);
}

/** The granted registration time: the owner's request capped at the configured maximum. */
export function grantWaitSeconds(requested: number, maxWaitSeconds: number): number {
  return Math.min(requested, maxWaitSeconds);
}

/** Whether a device key signs with this DeviceSgType (fdo.md §2): ES256/ES384 by curve, RS256/RS384 for RSA. */
export function isSignatureTypeOf(key: KeyObject, sgType: number): boolean {
  if (key.asymmetricKeyType === 'rsa') return sgType === -257 || sgType === -258;
  if (key.asymmetricKeyType !== 'ec') return false;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return (curve === 'prime256v1' && sgType === -7) || (curve === 'secp384r1' && sgType === -35);
}
