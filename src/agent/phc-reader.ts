import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Reads how far a PTP hardware clock (PHC) is from the system clock. The os-clock monitor owns this
 * seam because a PHC is NIC hardware: the real reader needs one, tests on machines without one use a
 * fake, and the error path (no PHC) is what a real phc_ctl can show there.
 */
export interface PhcReader {
  /** CLOCK_REALTIME − PHC of the interface's PHC in ns; rejects when it cannot be read. */
  compare(ifname: string): Promise<number>;
}

const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin'];
const TIMEOUT_MS = 2_000;
/** `phc_ctl[1940.831]: offset from CLOCK_REALTIME is -37000000012ns` (linuxptp 3.1 and 4.x). */
const OFFSET = /offset from CLOCK_REALTIME is (-?\d+)ns/;
/** linuxptp's prefix on every line: `phc_ctl[<monotonic seconds>]: `. */
const PREFIX = /^phc_ctl\[[\d.]+\]:\s*/;

/**
 * The offset `phc_ctl <ifname> cmp` printed, or an Error carrying phc_ctl's own message (e.g.
 * `interface lo does not have a PHC`) when it printed none.
 */
export function parsePhcCtlCompare(output: string): number {
  const match = OFFSET.exec(output);
  if (match?.[1] !== undefined) return Number(match[1]);
  const lines = output
    .split('\n')
    .map((line) => line.replace(PREFIX, '').trim())
    .filter((line) => line !== '');
  throw new Error(lines.length === 0 ? 'phc_ctl printed no offset' : lines.join('; '));
}

/** Runs `phc_ctl <ifname> cmp` (it only reads both clocks) and parses what it printed. */
export class PhcCtlReader implements PhcReader {
  /** `phcCtlPath` null: phc_ctl is not installed, every read fails saying so. */
  constructor(private readonly phcCtlPath: string | null = findPhcCtl() ?? null) {}

  compare(ifname: string): Promise<number> {
    const path = this.phcCtlPath;
    if (path === null) return Promise.reject(new Error('phc_ctl is not installed (linuxptp)'));
    return new Promise((resolve, reject) => {
      // phc_ctl's usage: `phc_ctl [options] <device> -- [command]`; -q keeps it out of syslog.
      execFile(path, ['-q', ifname, '--', 'cmp'], { timeout: TIMEOUT_MS }, (error, stdout, stderr) => {
        try {
          resolve(parsePhcCtlCompare(`${stdout}\n${stderr}`));
        } catch (parseError) {
          reject(error?.killed ? new Error(`phc_ctl timed out after ${TIMEOUT_MS} ms`) : parseError);
        }
      });
    });
  }
}

/** phc_ctl by absolute path (PATH, then the sbin directories), like ptp-linuxptp.ts finds pmc. */
function findPhcCtl(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, 'phc_ctl'), constants.X_OK);
      return join(dir, 'phc_ctl');
    } catch {
      // Not here; try the next directory.
    }
  }
  return undefined;
}
