/**
 * What a route requires. Roles grant permissions (the matrix lives in identity/model.ts); every route
 * declares exactly one access level, and `public` is reserved for health, login and protocol endpoints.
 */
const PERMISSIONS = ['read', 'operate', 'configure', 'administer'] as const;
export type Permission = (typeof PERMISSIONS)[number];
export type Access = Permission | 'public';

/** The authenticated caller of a request. */
export interface Principal {
  username: string;
  roles: readonly string[];
  tokenId: string;
}

/** Resolves bearer tokens and checks permissions; implemented by the identity domain. */
export interface AccessControl {
  /** Returns the principal for a token; throws `unauthenticated` (details.reason: missing|unknown|expired). */
  authenticate(token: string | undefined): Promise<Principal>;
  /** Throws `forbidden` when none of the principal's roles grants the permission. */
  authorize(principal: Principal, permission: Permission): void;
}

/** One line of the security audit log, as the HTTP edge sees a request. */
export interface RequestRecord {
  event: string;
  username: string | undefined;
  roles: readonly string[];
  source: string;
  method: string;
  path: string;
  target: string;
  status: number;
  requestId: string;
  detail: string | undefined;
}

/** Receives a record for every mutating request and every authentication event. */
export type RequestRecorder = (record: RequestRecord) => Promise<void>;
