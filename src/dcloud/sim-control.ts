import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Sim } from './sim.js';
import type { AlarmCounts } from './uplink-protocol.js';

/**
 * Knobs of a running `murm sim` on its standard input, one command a line, each answered with one
 * JSON line on standard output (benchmarks drive the simulator this way):
 *
 *   stats                                   → {"type":"stats",…SliceStats}
 *   cut COUNT HOLD_SECONDS                  → {"type":"cut","names":[…],"at":EPOCH_MS}
 *   alarms NAME CRITICAL MAJOR MINOR WARNING → {"type":"alarms","name":…,"sent":bool,"at":EPOCH_MS}
 */
export type SimCommand =
  | { type: 'stats' }
  | { type: 'cut'; count: number; holdMs: number }
  | { type: 'alarms'; name: string; alarms: AlarmCounts };

/** Parses one control line; a string says what is wrong with it. */
export function parseSimCommand(line: string): SimCommand | string {
  const [verb, ...args] = line.trim().split(/\s+/);
  const numbers = args.map(Number);
  const isCounts = (values: number[]) => values.every((n) => Number.isInteger(n) && n >= 0);
  switch (verb) {
    case 'stats':
      return { type: 'stats' };
    case 'cut': {
      const [count, holdSeconds] = numbers;
      if (args.length !== 2 || count === undefined || holdSeconds === undefined || !isCounts([count])) {
        return 'usage: cut COUNT HOLD_SECONDS';
      }
      if (!(holdSeconds >= 0)) return 'usage: cut COUNT HOLD_SECONDS';
      return { type: 'cut', count, holdMs: holdSeconds * 1000 };
    }
    case 'alarms': {
      const [name, ...rest] = args;
      const counts = rest.map(Number);
      const [critical, major, minor, warning] = counts;
      if (
        name === undefined ||
        critical === undefined ||
        major === undefined ||
        minor === undefined ||
        warning === undefined ||
        counts.length !== 4 ||
        !isCounts(counts)
      ) {
        return 'usage: alarms NAME CRITICAL MAJOR MINOR WARNING';
      }
      return { type: 'alarms', name, alarms: { critical, major, minor, warning } };
    }
    default:
      return `unknown command "${verb ?? ''}" (stats | cut | alarms)`;
  }
}

/** Reads commands from `input` and writes one JSON answer per line to `write`. */
export function attachSimControl(sim: Sim, input: Readable, write: (line: string) => void): () => void {
  const lines = createInterface({ input });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    const command = parseSimCommand(line);
    void answer(sim, command).then((reply) => write(JSON.stringify(reply)));
  });
  return () => lines.close();
}

async function answer(sim: Sim, command: SimCommand | string): Promise<Record<string, unknown>> {
  if (typeof command === 'string') return { type: 'error', message: command };
  switch (command.type) {
    case 'stats':
      return { type: 'stats', ...sim.stats() };
    case 'cut':
      return { type: 'cut', ...(await sim.cut(command.count, command.holdMs)) };
    case 'alarms': {
      const sent = await sim.setAlarms(command.name, command.alarms);
      return { type: 'alarms', name: command.name, sent, at: Date.now() };
    }
  }
}
