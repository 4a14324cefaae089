import { AppError, conflict } from '../core/errors.js';
import { decodeJoinBundle, joinController, readLink } from './join.js';
import { UplinkClient, type UplinkClientOptions, type UplinkStatus } from './uplink-client.js';

/** What `GET /v1/dc/link` answers: not joined, or the uplink's state. */
export type LinkStatus = { joined: false } | ({ joined: true } & UplinkStatus);

/**
 * The site's link to a system controller, as main.ts wires it: joins once (from `murm serve --join` or
 * `POST /v1/dc/join`) and keeps the uplink running while the site runs. The site never waits on it.
 */
export class SubcloudLink {
  private client: UplinkClient | undefined;
  private isJoining = false;
  private isStopped = false;

  constructor(private readonly options: UplinkClientOptions) {}

  /** Starts the uplink when an earlier join stored a link; resolves whether it did. */
  async startIfJoined(): Promise<boolean> {
    if (this.client !== undefined) return true;
    if ((await readLink(this.options.dataDir)) === undefined) return false;
    await this.startClient();
    return true;
  }

  /**
   * Joins the system controller of `bundle` and starts the uplink. Throws `invalid_input` for a bad
   * bundle, `conflict` when this site already joined one, and the controller's error when it refuses.
   */
  async join(bundle: string): Promise<void> {
    const decoded = decodeJoinBundle(bundle);
    if (this.isStopped) throw new AppError('unavailable', 'the site is stopping; join after it restarts');
    if (this.isJoining) throw conflict('a join of this site is already under way; wait for it to finish');
    this.isJoining = true;
    try {
      const joined = await readLink(this.options.dataDir);
      if (joined !== undefined) {
        throw conflict(
          `this site already joined the system controller ${joined.controller} as "${joined.name}"; a site joins one system controller once`,
          { ...joined },
        );
      }
      await joinController({ dataDir: this.options.dataDir, bundle: decoded, logger: this.options.logger });
      await this.startClient();
    } finally {
      this.isJoining = false;
    }
  }

  status(): LinkStatus {
    return this.client === undefined ? { joined: false } : { joined: true, ...this.client.status() };
  }

  /** Stops the uplink for good; a later join is refused. */
  async stop(): Promise<void> {
    this.isStopped = true;
    await this.client?.stop();
  }

  private async startClient(): Promise<void> {
    if (this.isStopped) return;
    const client = new UplinkClient(this.options);
    await client.start();
    this.client = client;
    // stop() may have run while the link was read: it saw no client to stop.
    if (this.isStopped) await client.stop();
  }
}
