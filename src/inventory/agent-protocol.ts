/**
 * The host-agent channel: how an agent enrolls and then talks to its controller.
 *
 * 1. Enrollment (once): `POST /v1/agent/enroll` with `{ token, csr }` (the one-time token from
 *    `murm host add`, a PEM PKCS#10 request). The answer carries the client certificate the site CA
 *    issued to `CN=<hostname>`, the CA bundle, and the host name. The token is spent.
 * 2. Channel: a WebSocket at `wss://<controller>/v1/agent/channel`, opened with that client
 *    certificate (mutual TLS). The controller accepts only a certificate it issued to a host that
 *    still exists. Frames are JSON text, one object each, discriminated by `type`.
 * 3. Renewal (on the channel): when its certificate enters the last third of its life, the agent sends
 *    `certificate-request` with a CSR for a new key. The controller issues a certificate for the name
 *    of the channel's verified peer certificate (never a name from the CSR) and answers `certificate`,
 *    or `error` with `refused: 'certificate-request'`. The agent stores the new key, then the
 *    certificate, and reconnects with them; until it has, the controller still accepts the old one.
 */

import type { HostInventory } from './topology.js';

export const AGENT_ENROLL_PATH = '/v1/agent/enroll';
export const AGENT_CHANNEL_PATH = '/v1/agent/channel';

export interface EnrollRequest {
  token: string;
  /** PEM PKCS#10 certificate signing request; its subject is ignored, the token decides the name. */
  csr: string;
}

export interface EnrollResponse {
  hostname: string;
  /** PEM client certificate issued by the site CA (clientAuth). */
  certificate: string;
  /** PEM site CA bundle: trust anchors for the controller's server certificate. */
  caBundle: string;
}

/** A file the agent must write under its root. `path` is relative, `/`-separated, never `..`. */
export interface RenderedFile {
  path: string;
  /** Octal permission bits as a number, e.g. 0o644. */
  mode: number;
  content: string;
}

/**
 * Something the agent must watch besides writing files, and report on. Domains add them to a host's
 * configuration next to their files (see `ExtraRenderer`); the agent starts a watcher for each one and
 * stops those no longer listed when it applies the next configuration. An agent ignores kinds it
 * does not know.
 * - `ptp4l`: poll the ptp4l instance at `udsAddress` (an absolute path on the host, not under the
 *   agent's root) in `domainNumber` through pmc, and send a `ptp-status` frame on every change.
 * - `phc2sys`: judge the system clock that phc2sys instance disciplines (the O-RAN os-clock state)
 *   from its process, its source ptp4l instances (monitored by their own directives) and the PHC of
 *   the source's interface, and send a `ptp-status` frame (with `osClock`) on every change.
 */
export type MonitorDirective = Ptp4lMonitorDirective | Phc2sysMonitorDirective;

export interface Ptp4lMonitorDirective {
  kind: 'ptp4l';
  instance: string;
  udsAddress: string;
  domainNumber: number;
}

export interface Phc2sysMonitorDirective {
  kind: 'phc2sys';
  instance: string;
  /** The configuration its unit starts phc2sys with (`-f`), as an absolute host path. */
  configPath: string;
  /**
   * The ptp4l instances it follows, in failover order (highest `ha_priority` first), each with the
   * interfaces (ports) whose PHC phc2sys copies to the system clock while that source is in use.
   */
  sources: { ptp4l: string; interfaces: string[] }[];
}

/** A ptp4l or phc2sys instance's status as it travels: `PtpSyncStatus` with ISO-8601 times. */
export interface PtpStatusPayload {
  state: 'LOCKED' | 'HOLDOVER' | 'FREERUN';
  since: string;
  observedAt: string;
  isRunning: boolean;
  source: 'ptp' | 'local' | 'none';
  clockClass: number;
  offsetNs?: number | undefined;
  gmIdentity?: string | undefined;
  /** The port states pmc last reported, e.g. `{ portNumber: 1, portState: 'SLAVE' }`. */
  ports?: { portNumber: number; portState: string }[] | undefined;
  /** Present for a phc2sys instance: what the os-clock monitor saw (see `Phc2sysMonitorDirective`). */
  osClock?: OsClockPayload | undefined;
  alarms: {
    alarmId: '100.119';
    entityTypeId: 'host';
    entityInstanceId: string;
    severity: 'critical' | 'major' | 'minor' | 'warning';
    reasonText: string;
  }[];
}

/**
 * The system clock as a phc2sys instance's monitor saw it. For a phc2sys instance the status's
 * `offsetNs` is how far the PHC ↔ CLOCK_REALTIME offset is from the expected TAI−UTC, and `source`
 * is `ptp` while a followed ptp4l instance is LOCKED.
 */
export interface OsClockPayload {
  /** The followed ptp4l instance in use (the first LOCKED one in failover order), if any. */
  sourceInstance?: string | undefined;
  /** The interface whose PHC was compared with CLOCK_REALTIME. */
  phcInterface?: string | undefined;
  /** `phc_ctl <interface> cmp`: CLOCK_REALTIME − PHC in ns (≈ −37 s for a PHC on TAI). */
  phcOffsetNs?: number | undefined;
  /** Why the PHC could not be read (e.g. the interface has no PHC). */
  phcError?: string | undefined;
}

/** Frames the agent sends. */
export type AgentFrame =
  /** First frame on every connection. */
  | {
      type: 'hello';
      agentVersion: string;
      appliedRevision: string | null;
      inventory: HostInventory;
      /** `ptp4l -v` as printed (`3.1.1`); null when ptp4l is not installed; absent from older agents. */
      linuxptpVersion?: string | null | undefined;
    }
  | { type: 'heartbeat'; appliedRevision: string | null }
  /** Sent when discovery finds something different from what was last reported. */
  | { type: 'inventory'; inventory: HostInventory; linuxptpVersion?: string | null | undefined }
  /** The files of `revision` were written; or applying them failed (`error` set, revision not applied). */
  | { type: 'applied'; revision: string; error?: string | undefined }
  /**
   * The status of a monitored ptp4l or phc2sys instance (see `MonitorDirective`): sent when it changes,
   * and for every monitored instance after each hello, so a controller that restarted learns it again.
   */
  | { type: 'ptp-status'; instance: string; status: PtpStatusPayload }
  /** Asks for a new client certificate for a new key (see renewal above); after welcome only. */
  | { type: 'certificate-request'; csr: string };

/** Frames the controller sends. */
export type ControllerFrame =
  /** Answer to hello. The agent sends heartbeats every `heartbeatIntervalMs`. */
  | { type: 'welcome'; hostname: string; heartbeatIntervalMs: number }
  /** Desired configuration; sent after hello when it differs from the applied one, and on every change. */
  | { type: 'config'; revision: string; files: RenderedFile[]; monitors?: MonitorDirective[] | undefined }
  /** The answer to `certificate-request`: the new client certificate and the current CA bundle (PEM). */
  | { type: 'certificate'; certificate: string; caBundle: string }
  /**
   * A frame the controller could not accept; the connection stays open. `refused` names the frame
   * type when the agent waits for an answer to it (`certificate-request`).
   */
  | { type: 'error'; message: string; refused?: AgentFrame['type'] | undefined };
