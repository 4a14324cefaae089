/**
 * The host-agent channel: how an agent enrolls and then talks to its controller.
 *
 * 1. Enrollment (once): `POST /v1/agent/enroll` with `{ token, csr }` (the one-time token from
 *    `murm host add`, a PEM PKCS#10 request). The answer carries the client certificate the site CA
 *    issued to `CN=<hostname>`, the CA bundle, and the host name. The token is spent.
 * 2. Channel: a WebSocket at `wss://<controller>/v1/agent/channel`, opened with that client
 *    certificate (mutual TLS). The controller accepts only a certificate it issued to a host that
 *    still exists. Frames are JSON text, one object each, discriminated by `type`.
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

/** Frames the agent sends. */
export type AgentFrame =
  /** First frame on every connection. */
  | { type: 'hello'; agentVersion: string; appliedRevision: string | null; inventory: HostInventory }
  | { type: 'heartbeat'; appliedRevision: string | null }
  /** Sent when discovery finds something different from what was last reported. */
  | { type: 'inventory'; inventory: HostInventory }
  /** The files of `revision` were written; or applying them failed (`error` set, revision not applied). */
  | { type: 'applied'; revision: string; error?: string | undefined };

/** Frames the controller sends. */
export type ControllerFrame =
  /** Answer to hello. The agent sends heartbeats every `heartbeatIntervalMs`. */
  | { type: 'welcome'; hostname: string; heartbeatIntervalMs: number }
  /** Desired configuration; sent after hello when it differs from the applied one, and on every change. */
  | { type: 'config'; revision: string; files: RenderedFile[] }
  /** A frame the controller could not accept; the connection stays open. */
  | { type: 'error'; message: string };
