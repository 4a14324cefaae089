import { type ChildProcess, fork } from 'node:child_process';
import { SimSlice, type SliceConfig, type SliceStats } from './sim-slice.js';
import type { AlarmCounts } from './uplink-protocol.js';

/**
 * A slice of the simulated fleet as the `murm sim` process sees it: in the same process, or in a
 * forked child (`--processes K`: one process may hold at most ~20,000 open files) reached over IPC.
 */
export interface SliceHandle {
  /** The latest stats (children report every 500 ms). */
  stats(): SliceStats;
  /** Connected subclouds the controller reports unmanaged. */
  unmanaged(): string[];
  cut(count: number, holdMs: number): Promise<{ names: string[]; at: number }>;
  setAlarms(name: string, alarms: AlarmCounts): Promise<boolean>;
  stop(): Promise<void>;
  /** The in-process slice, when there is one (tests reach the fleet through it). */
  readonly local?: SimSlice;
}

/** Environment variable that turns `murm sim` into a child serving one slice over IPC. */
export const SIM_CHILD_ENV = 'MURM_SIM_CHILD';
const STATS_INTERVAL_MS = 500;
const STOP_TIMEOUT_MS = 15_000;

type ParentMessage =
  | { type: 'start'; config: SliceConfig }
  | { type: 'cut'; id: number; count: number; holdMs: number }
  | { type: 'alarms'; id: number; name: string; alarms: AlarmCounts }
  | { type: 'stop' };

type ChildMessage =
  | { type: 'stats'; stats: SliceStats; unmanaged: string[] }
  | { type: 'reply'; id: number; result: unknown }
  | { type: 'stopped' };

export function localSlice(config: SliceConfig): SliceHandle {
  const slice = new SimSlice(config);
  return {
    local: slice,
    stats: () => slice.stats(),
    unmanaged: () => slice.fleet.unmanagedConnected(),
    cut: async (count, holdMs) => slice.cut(count, holdMs),
    setAlarms: async (name, alarms) => slice.setAlarms(name, alarms),
    stop: () => slice.stop(),
  };
}

const EMPTY_STATS: SliceStats = {
  total: 0,
  connected: 0,
  connecting: 0,
  rejected: 0,
  deltasSent: 0,
  rpcsAnswered: 0,
  enrolled: 0,
  enrollFailed: 0,
};

/** Forks `murm sim` again (same entry, same node flags) as a child serving `config`. */
export function forkSlice(config: SliceConfig): SliceHandle {
  const entry = process.argv[1];
  if (entry === undefined) throw new Error('cannot fork the simulator: process.argv[1] is not set');
  const child: ChildProcess = fork(entry, process.argv.slice(2), {
    execArgv: process.execArgv,
    env: { ...process.env, [SIM_CHILD_ENV]: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let stats: SliceStats = { ...EMPTY_STATS, total: config.items.length };
  let unmanaged: string[] = [];
  let nextId = 0;
  const waiting = new Map<number, (result: unknown) => void>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'stats') {
      stats = message.stats;
      unmanaged = message.unmanaged;
    } else if (message.type === 'reply') {
      waiting.get(message.id)?.(message.result);
      waiting.delete(message.id);
    }
  });
  const request = <T>(message: ParentMessage & { id: number }): Promise<T> =>
    new Promise((resolve) => {
      waiting.set(message.id, resolve as (result: unknown) => void);
      child.send(message);
    });
  child.send({ type: 'start', config } satisfies ParentMessage);
  return {
    stats: () => stats,
    unmanaged: () => unmanaged,
    cut: (count, holdMs) => request({ type: 'cut', id: nextId++, count, holdMs }),
    setAlarms: (name, alarms) => request({ type: 'alarms', id: nextId++, name, alarms }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'stop' } satisfies ParentMessage);
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The child side: waits for its slice over IPC, reports stats, answers knobs, exits after stop. */
export function runSimChild(): Promise<void> {
  return new Promise((resolve) => {
    let slice: SimSlice | undefined;
    let reporter: NodeJS.Timeout | undefined;
    const send = (message: ChildMessage): void => {
      if (process.connected) process.send?.(message);
    };
    const report = (): void => {
      if (slice) send({ type: 'stats', stats: slice.stats(), unmanaged: slice.fleet.unmanagedConnected() });
    };
    let isStopped = false;
    const stop = async (): Promise<void> => {
      if (isStopped) return;
      isStopped = true;
      clearInterval(reporter);
      await slice?.stop();
      report();
      send({ type: 'stopped' });
      process.disconnect?.();
      resolve();
    };
    process.on('message', (message: ParentMessage) => {
      switch (message.type) {
        case 'start':
          slice = new SimSlice(message.config);
          reporter = setInterval(report, STATS_INTERVAL_MS);
          break;
        case 'cut':
          send({ type: 'reply', id: message.id, result: slice?.cut(message.count, message.holdMs) });
          break;
        case 'alarms':
          send({
            type: 'reply',
            id: message.id,
            result: slice?.setAlarms(message.name, message.alarms) ?? false,
          });
          break;
        case 'stop':
          void stop();
          break;
      }
    });
    // The parent died without saying stop: do not linger holding thousands of uplinks.
    process.on('disconnect', () => void stop());
    // Signals go to the whole process group; the parent tells us when to stop.
    process.on('SIGINT', () => {});
    process.on('SIGTERM', () => void stop());
  });
}
