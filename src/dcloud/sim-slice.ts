import { ApiClient } from '../cli/client.js';
import { SimFleet, type SimFleetStats } from './sim-fleet.js';
import { enrollSimSubcloud, IdentityCache, type SimIdentity } from './sim-identity.js';
import type { AlarmCounts } from './uplink-protocol.js';

/**
 * One simulator process's share of the fleet: enrolls the subclouds that have a token (bounded
 * concurrency, each connecting as soon as it has its certificate), connects the cached ones at once,
 * and answers the knobs. The same code runs in the `murm sim` process (one process) or in each forked
 * child (`--processes K`), behind the IPC messages of sim.ts.
 */
export interface SliceConfig {
  controller: string;
  uplink?: string | undefined;
  /** The controller's CA: the file (for the enrollment API) and its text (for the uplinks). */
  caPath: string;
  caPem: string;
  softwareVersion: string;
  cacheDir: string;
  /** Subclouds to connect: with an identity (cached) or a one-time token (to enroll first). */
  items: readonly SliceItem[];
  alarmRate: number;
  disconnectRate: number;
  localAddresses: readonly string[];
  enrollConcurrency: number;
}

export type SliceItem = { identity: SimIdentity } | { name: string; token: string };

export interface SliceStats extends SimFleetStats {
  /** Subclouds holding a certificate (cached or enrolled in this run). */
  enrolled: number;
  /** Enrollments the controller refused. */
  enrollFailed: number;
  firstEnrollError?: string;
}

export class SimSlice {
  readonly fleet: SimFleet;
  private enrolled = 0;
  private enrollFailed = 0;
  private firstEnrollError: string | undefined;
  private isStopping = false;
  private readonly enrolling: Promise<void>;

  constructor(private readonly config: SliceConfig) {
    const cache = new IdentityCache(config.cacheDir);
    this.fleet = new SimFleet({
      controller: config.uplink ?? config.controller,
      caPem: config.caPem,
      softwareVersion: config.softwareVersion,
      alarmRate: config.alarmRate,
      disconnectRate: config.disconnectRate,
      localAddresses: config.localAddresses,
      onIdentity: (identity) => cache.add(identity),
    });
    const toEnroll: { name: string; token: string }[] = [];
    for (const item of config.items) {
      if ('identity' in item) {
        this.enrolled++;
        this.fleet.add(item.identity);
      } else {
        toEnroll.push(item);
      }
    }
    this.enrolling = this.enrollAll(toEnroll, cache);
  }

  stats(): SliceStats {
    return {
      ...this.fleet.stats(),
      enrolled: this.enrolled,
      enrollFailed: this.enrollFailed,
      ...(this.firstEnrollError === undefined ? {} : { firstEnrollError: this.firstEnrollError }),
    };
  }

  cut(count: number, holdMs: number): { names: string[]; at: number } {
    return this.fleet.cut({ count, holdMs });
  }

  setAlarms(name: string, alarms: AlarmCounts): boolean {
    return this.fleet.setAlarms(name, alarms);
  }

  async stop(): Promise<void> {
    this.isStopping = true;
    await this.enrolling;
    await this.fleet.stop();
  }

  private async enrollAll(items: { name: string; token: string }[], cache: IdentityCache): Promise<void> {
    if (items.length === 0) return;
    const api = await ApiClient.open({ url: this.config.controller, caPath: this.config.caPath });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (!this.isStopping && next < items.length) {
        const item = items[next++];
        if (item === undefined) break;
        try {
          const identity = await enrollSimSubcloud(api, item.name, item.token);
          cache.add(identity);
          this.enrolled++;
          this.fleet.add(identity);
        } catch (error) {
          this.enrollFailed++;
          this.firstEnrollError ??= `${item.name}: ${(error as Error).message}`;
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: this.config.enrollConcurrency }, worker));
    } finally {
      await api.close();
    }
  }
}
