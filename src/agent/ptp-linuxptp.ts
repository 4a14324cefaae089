import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where Debian puts ptp4l and pmc; a non-login root shell (systemd, sudo) may not have them on PATH. */
const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin'];
const VERSION_TIMEOUT_MS = 5_000;
const VERSION = /^v?(\d+(?:\.\d+)*)/;

/** A linuxptp program by absolute path (PATH first, then the sbin directories), or undefined when absent. */
export function findLinuxptpProgram(name: 'ptp4l' | 'pmc'): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next directory.
    }
  }
  return undefined;
}

/**
 * The installed linuxptp version as `ptp4l -v` prints it (`3.1.1`, `4.2`), or null when ptp4l is not
 * installed or prints no version.
 */
export async function detectLinuxptpVersion(
  ptp4lPath = findLinuxptpProgram('ptp4l'),
): Promise<string | null> {
  if (ptp4lPath === undefined) return null;
  return new Promise((resolve) => {
    execFile(ptp4lPath, ['-v'], { timeout: VERSION_TIMEOUT_MS }, (_error, stdout, stderr) => {
      // ptp4l 3.x prints the version on stdout and exits 0; tolerate builds that print it on stderr.
      resolve(VERSION.exec(`${stdout}\n${stderr}`.trim())?.[1] ?? null);
    });
  });
}
