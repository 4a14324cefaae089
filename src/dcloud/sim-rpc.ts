import type { WebSocket } from 'ws';
import { makeKeyAndCsr } from './sim-csr.js';
import { certificateNotAfter, isCertificateForKey, type SimIdentity } from './sim-identity.js';
import { syncRevision } from './sync.js';
import {
  type AlarmCounts,
  type ControllerFrame,
  type SubcloudFrame,
  SYNC_ENDPOINTS,
  type SyncEndpoint,
} from './uplink-protocol.js';

/** Where a simulated subcloud's uplink stands; see {@link SimFleet}. */
type SimState = 'ready' | 'connecting' | 'open' | 'connected' | 'waiting' | 'held' | 'stopped';

/** Everything the simulator keeps for one subcloud. */
export interface SimSubcloud extends SimIdentity {
  notAfter: string;
  /** Key made by dc-cert.renew, waiting for dc-cert.install. */
  pendingKeyPem: string | undefined;
  alarms: AlarmCounts;
  /** Revisions of the resources sync.apply stored; undefined until the first apply. */
  revisions: Partial<Record<SyncEndpoint, string>> | undefined;
  /** The applied resources themselves (kept only after a sync.apply). */
  resources?: Partial<Record<SyncEndpoint, unknown[]>>;
  socket: WebSocket | undefined;
  state: SimState;
  /** Reconnect attempts since the last welcome (drives the backoff). */
  attempt: number;
  dueAt: number;
  /** TLS session of the last connection, offered on the next one. */
  session: Buffer | undefined;
  isManaged: boolean;
  isRejected: boolean;
  /** Set by dc-cert.install: reconnect at once with the new certificate. */
  reconnectNow: boolean;
  address: string | undefined;
}

/** Alerts and statuses with which the controller refuses a client certificate. */
const REJECTED =
  /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REVOKED|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN|ACCESS_DENIED)|Unexpected server response: 40[13]/;

/** Whether an uplink error means the controller no longer accepts this subcloud's certificate. */
export function rejectedUplink(error: Error & { code?: string }): boolean {
  return REJECTED.test(`${error.code ?? ''} ${error.message}`);
}

class RpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type RpcFrame = Extract<ControllerFrame, { type: 'rpc' }>;

/**
 * The controller's RPCs as a real subcloud answers them: `sync.apply` stores the resources (in memory)
 * and returns their revision; `dc-cert.renew` makes a new key and returns a CSR; `dc-cert.install`
 * takes the certificate for that key and reconnects with it.
 */
export class SimUplinkRpc {
  answered = 0;

  constructor(
    private readonly io: {
      send: (sub: SimSubcloud, frame: SubcloudFrame) => boolean;
      onIdentity: (identity: SimIdentity) => void;
    },
  ) {}

  handle(sub: SimSubcloud, frame: RpcFrame): void {
    const socket = sub.socket;
    this.call(sub, frame).then(
      (result) => this.answer(sub, socket, { type: 'rpc-result', id: frame.id, result }),
      (error: unknown) => {
        const code = error instanceof RpcError ? error.code : 'internal';
        const message = error instanceof Error ? error.message : String(error);
        this.answer(sub, socket, { type: 'rpc-result', id: frame.id, error: { code, message } });
      },
    );
  }

  private answer(sub: SimSubcloud, socket: WebSocket | undefined, frame: SubcloudFrame): void {
    // An answer belongs to the connection the call came on.
    if (sub.socket !== socket || !this.io.send(sub, frame)) return;
    this.answered++;
    if (sub.reconnectNow) socket?.close(1000, 'new uplink certificate');
  }

  private async call(sub: SimSubcloud, frame: RpcFrame): Promise<unknown> {
    const params = (typeof frame.params === 'object' && frame.params !== null ? frame.params : {}) as Record<
      string,
      unknown
    >;
    switch (frame.method) {
      case 'sync.apply':
        return this.apply(sub, params);
      case 'dc-cert.renew': {
        const { keyPem, csr } = makeKeyAndCsr(sub.name);
        sub.pendingKeyPem = keyPem;
        return { csr };
      }
      case 'dc-cert.install':
        return this.install(sub, params);
      default:
        throw new RpcError('invalid_input', `unknown method "${String(frame.method)}"`);
    }
  }

  private apply(sub: SimSubcloud, params: Record<string, unknown>): { revision: string } {
    const { endpoint, resources } = params;
    if (!SYNC_ENDPOINTS.includes(endpoint as SyncEndpoint) || !Array.isArray(resources)) {
      throw new RpcError('invalid_input', 'sync.apply needs { endpoint, resources[] }');
    }
    const revision = syncRevision(resources);
    sub.resources = { ...sub.resources, [endpoint as SyncEndpoint]: resources };
    sub.revisions = { ...sub.revisions, [endpoint as SyncEndpoint]: revision };
    return { revision };
  }

  private install(sub: SimSubcloud, params: Record<string, unknown>): Record<string, never> {
    const { certificate } = params;
    const keyPem = sub.pendingKeyPem;
    if (typeof certificate !== 'string' || keyPem === undefined) {
      throw new RpcError('precondition_failed', 'dc-cert.install needs a certificate for a renewed key');
    }
    if (!isCertificateForKey(certificate, keyPem)) {
      throw new RpcError('invalid_input', 'the certificate is not for the key dc-cert.renew made');
    }
    sub.keyPem = keyPem;
    sub.certPem = certificate;
    sub.notAfter = certificateNotAfter(certificate);
    sub.pendingKeyPem = undefined;
    // A resumed session would present the old certificate, which the controller no longer accepts.
    sub.session = undefined;
    sub.reconnectNow = true;
    this.io.onIdentity({ name: sub.name, keyPem, certPem: certificate });
    return {};
  }
}
