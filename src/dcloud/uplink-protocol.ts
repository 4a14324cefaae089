/**
 * The subcloud uplink: how a subcloud joins a system controller and then talks to it.
 *
 * 1. Enrollment bundle: `murm subcloud add` on the system controller returns a bundle (the string
 *    `murm-join:` + base64url(JSON of {@link JoinBundle})). The subcloud's operator passes it to
 *    `murm serve --join <bundle>` or `murm dc join <bundle>`.
 * 2. Join: the subcloud POSTs `{ token, csr }` to `<controller>/v1/subcloud-enroll` (public route, the
 *    one-time token is the credential), trusting only the bundle's CA. The answer is a client
 *    certificate (`CN=<subcloud name>`) from the controller's site CA. The token is spent.
 * 3. Uplink: a WebSocket at `wss://<uplink or controller>/v1/dc/uplink` with that certificate (mutual TLS).
 *    The controller accepts only the certificate it last issued to that subcloud, while the subcloud
 *    exists. One connection per subcloud; a newer one replaces the older. Liveness: the controller sends
 *    WebSocket pings every `pingIntervalMs`; two unanswered pings make the subcloud offline.
 *    Frames are JSON text, one object each, discriminated by `type`.
 */

export const SUBCLOUD_ENROLL_PATH = '/v1/subcloud-enroll';
export const UPLINK_PATH = '/v1/dc/uplink';
export const JOIN_BUNDLE_PREFIX = 'murm-join:';

export interface JoinBundle {
  /** Subcloud name the token was issued for. */
  name: string;
  /** https URL of the system controller's API. */
  controller: string;
  /** https URL of the uplink listener when it is not the API's (uplink worker processes); default `controller`. */
  uplink?: string | undefined;
  /** PEM CA bundle of the system controller (trust anchor for its server certificate). */
  caPem: string;
  token: string;
}

export interface SubcloudEnrollRequest {
  token: string;
  /** PEM PKCS#10 request; the subject is ignored, the token decides the name. */
  csr: string;
}

export interface SubcloudEnrollResponse {
  name: string;
  /** PEM client certificate (clientAuth), CN = subcloud name. */
  certificate: string;
  /** PEM CA bundle of the controller. */
  caBundle: string;
}

/** Sync endpoints known today; later issues add more (software, ptp, kubernetes) with one provider each. */
export const SYNC_ENDPOINTS = ['identity', 'certificates', 'dc-cert'] as const;
export type SyncEndpoint = (typeof SYNC_ENDPOINTS)[number];
export const SYNC_STATUSES = ['in-sync', 'out-of-sync', 'unknown'] as const;
export type SyncStatus = (typeof SYNC_STATUSES)[number];

export interface AlarmCounts {
  critical: number;
  major: number;
  minor: number;
  warning: number;
}

/**
 * What a subcloud reports about one endpoint: the revision of its local copy of the fleet-wide
 * resources (a hash computed the same way as the controller's desired revision; see sync-revision.ts),
 * plus endpoint-specific facts (dc-cert: the uplink certificate's notAfter).
 */
export interface EndpointDigest {
  revision: string;
  notAfter?: string | undefined;
}

/** Frames the subcloud sends. */
export type SubcloudFrame =
  /** First frame on every connection: the full state. */
  | {
      type: 'digest';
      softwareVersion: string;
      alarms: AlarmCounts;
      endpoints: Partial<Record<SyncEndpoint, EndpointDigest>>;
    }
  /** Whatever changed since the last digest/delta (alarm counts, one or more endpoints). */
  | {
      type: 'delta';
      alarms?: AlarmCounts | undefined;
      endpoints?: Partial<Record<SyncEndpoint, EndpointDigest>> | undefined;
    }
  /** Answer to an rpc frame of the controller. */
  | {
      type: 'rpc-result';
      id: string;
      result?: unknown;
      error?: { code: string; message: string } | undefined;
    };

/**
 * RPC methods the controller calls on a subcloud, with their params and results:
 * - `sync.apply` { endpoint, resources } → { revision }: replace the subcloud's fleet-wide copy of the
 *   endpoint's resources with these (through its own services) and return its new revision.
 * - `dc-cert.renew` {} → { csr }: make a new key and return a CSR for it (key kept pending).
 * - `dc-cert.install` { certificate } → {}: store the certificate for the pending key; the subcloud
 *   reconnects with it (the controller already accepts only the new one).
 */
export type RpcMethod = 'sync.apply' | 'dc-cert.renew' | 'dc-cert.install';

/** Frames the controller sends. */
export type ControllerFrame =
  /** Answer to the first digest. */
  | { type: 'welcome'; name: string; pingIntervalMs: number; managed: boolean }
  | { type: 'rpc'; id: string; method: RpcMethod; params: unknown; deadlineMs: number }
  /** A frame the controller could not accept; the connection stays open. */
  | { type: 'error'; message: string };
