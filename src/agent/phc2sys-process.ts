import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

/**
 * Whether a phc2sys process runs with the configuration `configPath` (an absolute path such as
 * `/etc/linuxptp/phc1.conf`, the one its unit passes with `-f`). The rule, over every
 * `<procRoot>/<pid>/cmdline` (NUL-separated argv):
 * - argv[0]'s base name is `phc2sys` (how systemd and a shell start it; a zombie has no argv);
 * - a later argument is `-f <path>` or `-f<path>` (getopt's two spellings), where `<path>` is
 *   `configPath` or ends with it (the same file under an agent root other than `/`).
 * Processes that vanish or cannot be read while scanning are skipped. Asking systemd instead would
 * miss a phc2sys started by hand or in a container, and say "active" for one that is restarting.
 */
export async function isPhc2sysRunning(configPath: string, procRoot = '/proc'): Promise<boolean> {
  const pids = (await readdir(procRoot)).filter((name) => /^\d+$/.test(name));
  const argvs = await Promise.all(
    pids.map((pid) => readFile(join(procRoot, pid, 'cmdline')).then(splitArgv, () => [])),
  );
  return argvs.some((argv) => isPhc2sysWith(argv, configPath));
}

function splitArgv(cmdline: Buffer): string[] {
  const argv = cmdline.toString('utf8').split('\0');
  if (argv.at(-1) === '') argv.pop();
  return argv;
}

function isPhc2sysWith(argv: readonly string[], configPath: string): boolean {
  const [program, ...args] = argv;
  if (program === undefined || basename(program) !== 'phc2sys') return false;
  const names = (path: string | undefined) =>
    path !== undefined && (path === configPath || path.endsWith(configPath));
  return args.some(
    (arg, index) => (arg === '-f' && names(args[index + 1])) || (arg.startsWith('-f') && names(arg.slice(2))),
  );
}
