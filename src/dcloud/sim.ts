import { readFileSync } from 'node:fs';
import { ApiClient } from '../cli/client.js';
import { AppError } from '../core/errors.js';
import { addSimSubclouds, listSimSubclouds, manageSimSubclouds } from './sim-admin.js';
import { forkSlice, localSlice, type SliceHandle } from './sim-children.js';
import { defaultCacheDir, IdentityCache, type SimIdentity } from './sim-identity.js';
import { parseAddressRange, simSubcloudName, sliceRange } from './sim-model.js';
import type { SliceItem, SliceStats } from './sim-slice.js';
import type { AlarmCounts } from './uplink-protocol.js';

/**
 * `murm sim`: N lightweight simulated subclouds that speak the real uplink to a system controller.
 * It adds them through the bulk API, enrolls each with its own key and CSR, then holds one mutual-TLS
 * uplink per subcloud (spread over K processes), with alarm and disconnect churn on demand.
 */
export interface SimOptions {
  /** https URL of the system controller. */
  controller: string;
  /** https URL of the uplink listener when the controller runs uplink workers; default: controller. */
  uplink?: string | undefined;
  caPath: string;
  /** Admin bearer token for the bulk API (and manage). */
  token: string;
  subclouds: number;
  prefix: string;
  processes: number;
  alarmRate: number;
  disconnectRate: number;
  isManaged: boolean;
  sourceIpRange?: string | undefined;
  cacheDir?: string | undefined;
  softwareVersion: string;
  enrollConcurrency?: number;
  /** Progress lines (stderr in the CLI). */
  log: (line: string) => void;
}

/** A running simulator. */
export interface Sim {
  readonly names: readonly string[];
  stats(): SliceStats;
  /** Cuts `count` random connected uplinks for `holdMs`; names and time of the cut. */
  cut(count: number, holdMs: number): Promise<{ names: string[]; at: number }>;
  /** Sets one subcloud's alarm counts (sent as a delta); false when it is not connected. */
  setAlarms(name: string, alarms: AlarmCounts): Promise<boolean>;
  /** The slices (the first holds the in-process fleet when --processes is 1). */
  readonly slices: readonly SliceHandle[];
  stop(): Promise<void>;
}

const PROGRESS_INTERVAL_MS = 1_000;
const ENROLL_CONCURRENCY = 16;

/** Prepares (cache, bulk add) and starts the simulator; progress goes to `options.log`. */
export async function startSim(options: SimOptions): Promise<Sim> {
  const caPem = readCa(options.caPath);
  const names = Array.from({ length: options.subclouds }, (_, i) => simSubcloudName(options.prefix, i));
  const cacheDir = options.cacheDir ?? defaultCacheDir(options.controller);
  const api = await ApiClient.open({ url: options.controller, caPath: options.caPath, token: options.token });
  let items: SliceItem[];
  try {
    items = await prepare(api, { ...options, names, caPem, cacheDir });
  } finally {
    await api.close();
  }
  const localAddresses = options.sourceIpRange ? parseAddressRange(options.sourceIpRange) : [];
  const processes = Math.max(1, Math.min(options.processes, names.length || 1));
  const slices: SliceHandle[] = [];
  for (let k = 0; k < processes; k++) {
    const { start, end } = sliceRange(items.length, processes, k);
    const config = {
      controller: options.controller,
      uplink: options.uplink,
      caPath: options.caPath,
      caPem,
      softwareVersion: options.softwareVersion,
      cacheDir,
      items: items.slice(start, end),
      alarmRate: options.alarmRate / processes,
      disconnectRate: options.disconnectRate / processes,
      localAddresses,
      enrollConcurrency: Math.max(
        1,
        Math.ceil((options.enrollConcurrency ?? ENROLL_CONCURRENCY) / processes),
      ),
    };
    slices.push(processes === 1 ? localSlice(config) : forkSlice(config));
  }
  return runningSim({ options, names, slices });
}

function readCa(caPath: string): string {
  try {
    return readFileSync(caPath, 'utf8');
  } catch (error) {
    throw new AppError('invalid_input', `cannot read the CA file "${caPath}" (${(error as Error).message})`, {
      field: 'ca',
    });
  }
}

/**
 * Decides per subcloud: a cached identity the controller still knows, or a new subcloud (bulk add →
 * token). A cached identity whose subcloud is gone is dropped; a subcloud that exists without a
 * cached key cannot be used (its token is spent): that is an error naming the way out.
 */
async function prepare(
  api: ApiClient,
  o: SimOptions & { names: string[]; caPem: string; cacheDir: string },
): Promise<SliceItem[]> {
  const cache = new IdentityCache(o.cacheDir);
  const cached = cache.load(o.caPem);
  const existing = await listSimSubclouds(api, o.prefix);
  const orphans = o.names.filter((n) => existing.has(n) && !cached.has(n));
  if (orphans.length > 0) {
    throw new AppError(
      'conflict',
      `${orphans.length} subclouds like "${orphans[0]}" exist on ${o.controller} but ${o.cacheDir} holds no key for them; delete them there or pick another --prefix`,
    );
  }
  const kept: SimIdentity[] = [];
  for (const identity of cached.values()) if (existing.has(identity.name)) kept.push(identity);
  cache.replaceAll(kept);
  const keptByName = new Map(kept.map((i) => [i.name, i]));
  const toAdd = o.names.filter((n) => !keptByName.has(n));
  if (keptByName.size > 0) o.log(`sim: ${keptByName.size} subclouds enrolled earlier (cache ${o.cacheDir})`);
  const tokens =
    toAdd.length === 0
      ? new Map<string, string>()
      : await addSimSubclouds(api, toAdd, (added) => o.log(`sim: added ${added}/${toAdd.length} subclouds`));
  return o.names.map((name): SliceItem => {
    const identity = keptByName.get(name);
    return identity ? { identity } : { name, token: tokens.get(name) ?? '' };
  });
}

function runningSim(o: { options: SimOptions; names: string[]; slices: SliceHandle[] }): Sim {
  const { options, names, slices } = o;
  const total = (): SliceStats => sumStats(slices.map((s) => s.stats()));
  const requested = new Set<string>();
  let isManaging = false;
  let last = '';
  const progress = setInterval(() => {
    const s = total();
    const line = `sim: enrolled ${s.enrolled}/${names.length}, connected ${s.connected}/${names.length}${
      s.rejected > 0 ? `, rejected ${s.rejected}` : ''
    }${s.enrollFailed > 0 ? `, enrollment failed ${s.enrollFailed} (${s.firstEnrollError ?? ''})` : ''}`;
    if (line !== last) options.log(line);
    last = line;
    if (options.isManaged && !isManaging) {
      const due = slices.flatMap((slice) => slice.unmanaged()).filter((n) => !requested.has(n));
      if (due.length > 0) {
        isManaging = true;
        for (const n of due) requested.add(n);
        void manageAll(options, due).finally(() => {
          isManaging = false;
        });
      }
    }
  }, PROGRESS_INTERVAL_MS);
  return {
    names,
    slices,
    stats: total,
    async cut(count, holdMs) {
      const parts = await Promise.all(
        slices.map((slice, k) => {
          const { start, end } = sliceRange(count, slices.length, k);
          return slice.cut(end - start, holdMs);
        }),
      );
      return { names: parts.flatMap((p) => p.names), at: Math.min(...parts.map((p) => p.at)) };
    },
    async setAlarms(name, alarms) {
      const index = names.indexOf(name);
      const k = slices.findIndex((_, i) => {
        const { start, end } = sliceRange(names.length, slices.length, i);
        return index >= start && index < end;
      });
      return (await slices[k]?.setAlarms(name, alarms)) ?? false;
    },
    async stop() {
      clearInterval(progress);
      await Promise.all(slices.map((slice) => slice.stop()));
    },
  };
}

/** Manages `names`; returns those that failed. */
async function manageAll(options: SimOptions, names: string[]): Promise<string[]> {
  try {
    const api = await ApiClient.open({
      url: options.controller,
      caPath: options.caPath,
      token: options.token,
    });
    try {
      const failed = await manageSimSubclouds(api, names);
      if (failed.length > 0)
        options.log(`sim: managing ${failed.length} subclouds failed (first "${failed[0]}")`);
      return failed;
    } finally {
      await api.close();
    }
  } catch (error) {
    options.log(`sim: managing failed: ${(error as Error).message}`);
    return names;
  }
}

function sumStats(all: readonly SliceStats[]): SliceStats {
  const sum: SliceStats = {
    total: 0,
    connected: 0,
    connecting: 0,
    rejected: 0,
    deltasSent: 0,
    rpcsAnswered: 0,
    enrolled: 0,
    enrollFailed: 0,
  };
  for (const s of all) {
    sum.total += s.total;
    sum.connected += s.connected;
    sum.connecting += s.connecting;
    sum.rejected += s.rejected;
    sum.deltasSent += s.deltasSent;
    sum.rpcsAnswered += s.rpcsAnswered;
    sum.enrolled += s.enrolled;
    sum.enrollFailed += s.enrollFailed;
    if (s.firstEnrollError !== undefined) sum.firstEnrollError ??= s.firstEnrollError;
  }
  return sum;
}
