import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { type LinuxptpVersion, type PtpSite, parsePtpParameter } from '../../src/ptp/model.js';
import { runPmc } from '../../src/ptp/pmc.js';
import { renderPtpHost } from '../../src/ptp/render.js';

/**
 * Real linuxptp in two network namespaces joined by a veth pair (recipe: shared/reference/linuxptp.md
 * §2, §3, §11): a grandmaster ptp4l on `gm0` in one, from the configuration below; a slave ptp4l in
 * the other, from a configuration murm rendered, on a veth named as its port; UDPv4 E2E with software
 * timestamping. Both run with `free_running 1`, so neither touches the host clock (they
 * share one CLOCK_REALTIME); the slave is told `SYNCHRONIZATION_UNCERTAIN_NP 0` so its port still goes
 * UNCALIBRATED → SLAVE. Namespaces, daemons and the run directory go away in cleanup(), on process exit
 * and on SIGINT/SIGTERM; namespaces left by a run that was killed outright are swept by the next one.
 */

/** Domain both daemons use. */
export const PTP_TEST_DOMAIN = 24;

const NS_PREFIX = 'murmptp';
/** `ip` by absolute path: a non-login root shell may lack /usr/sbin in PATH. */
const IP = findExecutable('ip') ?? 'ip';
const START_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 3_000;
/** Fast intervals: GM loss is seen after announceReceiptTimeout × 2^logAnnounceInterval = 0.375 s. */
const COMMON_GLOBAL = [
  `domainNumber            ${PTP_TEST_DOMAIN}`,
  'time_stamping           software',
  'network_transport       UDPv4',
  'delay_mechanism         E2E',
  'logAnnounceInterval     -3',
  'logSyncInterval         -4',
  'logMinDelayReqInterval  -4',
  'announceReceiptTimeout  3',
  'free_running            1',
];

/**
 * The ptp4l instance parameters an operator would give a G.8275.1-style time receiver on this link:
 * the telecom profile's message rates (announce 8/s, sync 16/s, 3 missed announces = loss), UDPv4
 * E2E to match the test grandmaster, hardware timestamping as on a real NIC.
 */
export const SLAVE_INSTANCE_PARAMETERS = [
  `domainNumber=${PTP_TEST_DOMAIN}`,
  'slaveOnly=1',
  'network_transport=UDPv4',
  'delay_mechanism=E2E',
  'time_stamping=hardware',
  'logAnnounceInterval=-3',
  'logSyncInterval=-4',
  'logMinDelayReqInterval=-4',
  'announceReceiptTimeout=3',
] as const;

/**
 * What the tests change in a configuration murm rendered, on ptp4l's command line (which overrides
 * the file) so the file itself runs as rendered:
 * - `--free_running 1`: the two daemons share one CLOCK_REALTIME; a servo would steer the host clock
 *   against itself (linuxptp.md §4).
 * - `--time_stamping software`: veth has no PHC and no hardware timestamps.
 * Nothing else: the port section is the rendered interface name (the test names its veth after it),
 * and `uds_address`, `domainNumber`, `message_tag` and the intervals are used as rendered.
 */
const RENDERED_CONFIG_OVERRIDES = ['--free_running', '1', '--time_stamping', 'software'] as const;

/** The linuxptp version `ptp4l -v` reports, in murm's terms; 3.1 when it cannot be run. */
export function installedLinuxptpVersion(): LinuxptpVersion {
  try {
    return execFileSync(findExecutable('ptp4l') ?? 'ptp4l', ['-v'], { encoding: 'utf8' }).startsWith('3.')
      ? '3.1'
      : '4';
  } catch {
    return '3.1';
  }
}

/** A slave config from a rendered ptp4l file (see RENDERED_CONFIG_OVERRIDES for what is overridden). */
export function renderedSlaveConfig(content: string): SlaveConfig {
  const socket = /^uds_address\s+(\S+)$/m.exec(content)?.[1];
  const ports = [...content.matchAll(/^\[(.+)\]$/gm)].map((m) => m[1]).filter((name) => name !== 'global');
  const [ifname] = ports;
  if (socket === undefined || ifname === undefined || ports.length !== 1) {
    throw new Error(`expected a rendered ptp4l file with uds_address and one port:\n${content}`);
  }
  return { content, ifname, socket, args: RENDERED_CONFIG_OVERRIDES };
}

/**
 * Renders, with murm's own renderer, a one-port ptp4l slave instance on `ifname` of `hostname` and
 * returns it ready for createPtpPair. The socket is the rendered `/var/run/ptp4l-<instance>`: give a
 * unique instance name.
 */
export function renderSlaveInstance(options: { hostname: string; instance: string; ifname: string }) {
  const { hostname, instance, ifname } = options;
  const site: PtpSite = {
    instances: [
      { name: instance, service: 'ptp4l', parameters: SLAVE_INSTANCE_PARAMETERS.map(parsePtpParameter) },
    ],
    interfaces: [
      { name: `${instance}-port`, instance, parameters: [], hostInterfaces: { [hostname]: [ifname] } },
    ],
    hosts: [
      {
        hostname,
        linuxptpVersion: installedLinuxptpVersion(),
        instances: [instance],
        network: [{ name: ifname }],
      },
    ],
  };
  const file = renderPtpHost(site, hostname).find((f) => f.path === `etc/linuxptp/${instance}.conf`);
  if (file === undefined) throw new Error(`murm rendered no etc/linuxptp/${instance}.conf`);
  return renderedSlaveConfig(file.content);
}

/** Why the real-linuxptp tests cannot run here, or undefined when they can. */
export function linuxptpSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for ip netns and veth';
  const missing = ['ip', 'ptp4l', 'pmc'].filter((tool) => findExecutable(tool) === undefined);
  if (missing.length > 0) return `${missing.join(', ')} not installed (apt-get install linuxptp iproute2)`;
  const probe = `${NS_PREFIX}probe${process.pid}`;
  try {
    execFileSync(IP, ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync(IP, ['netns', 'del', probe], { stdio: 'pipe' });
  } catch (error) {
    return `cannot create a network namespace: ${(error as Error).message.trim()}`;
  }
  return undefined;
}

/** The slave ptp4l's configuration. */
export interface SlaveConfig {
  /** The file's content, used as is. */
  content: string;
  /** Its one port: the veth in the slave's namespace gets this name. */
  ifname: string;
  /** The `uds_address` it serves (from the file or `args`); removed on cleanup. */
  socket: string;
  /** ptp4l command-line options, which override the file (e.g. `--free_running 1`). */
  args: readonly string[];
}

/** A grandmaster and a slave ptp4l in their own namespaces. */
export interface PtpPair {
  readonly runDir: string;
  /** The slave's `uds_address`. */
  readonly slaveSocket: string;
  readonly grandmasterSocket: string;
  /** Starts (or restarts) the grandmaster and waits for its socket. */
  startGrandmaster(): Promise<void>;
  /** SIGTERM to the grandmaster; resolves when it has exited. */
  stopGrandmaster(): Promise<void>;
  /** Starts the slave, waits for its socket and sets SYNCHRONIZATION_UNCERTAIN_NP 0. */
  startSlave(): Promise<void>;
  /** SIGTERM to the slave; resolves when it has exited. */
  stopSlave(): Promise<void>;
  /**
   * Makes the grandmaster announce another clock class (6 locked, 248 free-running; linuxptp.md §5):
   * the slave sees it in PARENT_DATA_SET within one announce interval.
   */
  setGrandmasterClockClass(clockClass: number): Promise<void>;
  /** Both daemons' output, for failure messages. */
  logs(): string;
  /** Stops the daemons and deletes the namespaces and the run directory; idempotent. */
  cleanup(): Promise<void>;
}

interface Daemon {
  child: ChildProcess;
  exited: Promise<void>;
}

/** Creates the namespaces, the veth pair and the configs; starts nothing yet. */
export function createPtpPair(options: { slave: SlaveConfig }): PtpPair {
  sweepStaleNamespaces();
  const id = `${process.pid}x${Math.floor(Math.random() * 1e4)}`;
  const gmNs = `${NS_PREFIX}${id}g`;
  const slaveNs = `${NS_PREFIX}${id}s`;
  const runDir = mkdtempSync(join(tmpdir(), 'murm-ptp-'));
  const grandmasterSocket = join(runDir, 'gm.sock');
  const { socket: slaveSocket, ifname: slaveIfname } = options.slave;
  const daemons = new Map<'gm' | 'slave', Daemon>();
  let output = '';
  let isCleaned = false;

  const cleanupSync = () => {
    if (isCleaned) return;
    isCleaned = true;
    for (const { child } of daemons.values()) if (isAlive(child)) child.kill('SIGKILL');
    for (const ns of [gmNs, slaveNs]) deleteNamespace(ns);
    rmSync(runDir, { recursive: true, force: true });
    // A daemon killed outright leaves its socket behind, and the slave's may be outside the run dir.
    rmSync(slaveSocket, { force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    cleanupSync();
    process.kill(process.pid, signal);
  };
  process.once('exit', cleanupSync);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    ip('netns', 'add', gmNs);
    ip('netns', 'add', slaveNs);
    ip('link', 'add', `g${id}`, 'netns', gmNs, 'type', 'veth', 'peer', 'name', `s${id}`, 'netns', slaveNs);
    ip('-n', gmNs, 'link', 'set', `g${id}`, 'name', 'gm0');
    ip('-n', slaveNs, 'link', 'set', `s${id}`, 'name', slaveIfname);
    ip('-n', gmNs, 'addr', 'add', '192.0.2.1/24', 'dev', 'gm0');
    ip('-n', slaveNs, 'addr', 'add', '192.0.2.2/24', 'dev', slaveIfname);
    for (const [ns, ifname] of [
      [gmNs, 'gm0'],
      [slaveNs, slaveIfname],
    ] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', ifname, 'up');
    }
  } catch (error) {
    cleanupSync();
    throw error;
  }
  writeFileSync(
    join(runDir, 'gm.cfg'),
    config(
      [
        'priority1               10',
        'priority2               10',
        'clockClass              6',
        'clockAccuracy           0x21',
        'offsetScaledLogVariance 0x4E5D',
        `uds_address             ${grandmasterSocket}`,
        'message_tag             [gm]',
      ],
      'gm0',
    ),
  );
  writeFileSync(join(runDir, 'slave.cfg'), options.slave.content);
  const extraArgs = { gm: [] as readonly string[], slave: options.slave.args };

  const start = async (role: 'gm' | 'slave', ns: string, socket: string): Promise<void> => {
    const command = [
      'netns',
      'exec',
      ns,
      'ptp4l',
      '-f',
      join(runDir, `${role}.cfg`),
      '-m',
      ...extraArgs[role],
    ];
    const child = spawn(IP, command, { stdio: ['ignore', 'pipe', 'pipe'] });
    const append = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    daemons.set(role, { child, exited });
    await waitFor(`${role} ptp4l socket ${socket}`, START_TIMEOUT_MS, () => {
      if (!isAlive(child)) throw new Error(`${role} ptp4l exited with ${child.exitCode}:\n${output}`);
      return existsSync(socket);
    });
  };

  return {
    runDir,
    slaveSocket,
    grandmasterSocket,
    startGrandmaster: () => start('gm', gmNs, grandmasterSocket),
    async stopGrandmaster() {
      const gm = daemons.get('gm');
      if (gm !== undefined) await stopDaemon(gm);
    },
    async stopSlave() {
      const slave = daemons.get('slave');
      if (slave !== undefined) await stopDaemon(slave);
    },
    async startSlave() {
      await start('slave', slaveNs, slaveSocket);
      const reply = await runPmc({ udsPath: slaveSocket, domainNumber: PTP_TEST_DOMAIN }, [
        'SET SYNCHRONIZATION_UNCERTAIN_NP 0',
      ]);
      if (!reply.includes('RESPONSE MANAGEMENT SYNCHRONIZATION_UNCERTAIN_NP')) {
        throw new Error(`slave ptp4l did not accept SYNCHRONIZATION_UNCERTAIN_NP 0:\n${reply}`);
      }
    },
    async setGrandmasterClockClass(clockClass) {
      // ptpTimescale 0: a software grandmaster announcing PTP time would shift the slave's offset by 37 s.
      const settings = `clockClass ${clockClass} clockAccuracy 0x21 offsetScaledLogVariance 0x4e5d currentUtcOffset 37 leap61 0 leap59 0 currentUtcOffsetValid 0 ptpTimescale 0 timeTraceable 1 frequencyTraceable 1 timeSource 0xa0`;
      const reply = await runPmc({ udsPath: grandmasterSocket, domainNumber: PTP_TEST_DOMAIN }, [
        `SET GRANDMASTER_SETTINGS_NP ${settings}`,
      ]);
      if (!new RegExp(`clockClass\\s+${clockClass}\\b`).test(reply)) {
        throw new Error(`grandmaster ptp4l did not take clockClass ${clockClass}:\n${reply}`);
      }
    },
    logs: () => output,
    async cleanup() {
      if (isCleaned) return;
      await Promise.all([...daemons.values()].map(stopDaemon));
      cleanupSync();
      process.off('exit', cleanupSync);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function config(global: string[], ifname: string): string {
  return ['[global]', ...COMMON_GLOBAL, ...global, `[${ifname}]`, ''].join('\n');
}

async function stopDaemon({ child, exited }: Daemon): Promise<void> {
  if (!isAlive(child)) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** Deletes namespaces of earlier runs whose process is gone, killing what still runs in them. */
function sweepStaleNamespaces(): void {
  const listing = execFileSync(IP, ['netns', 'list'], { encoding: 'utf8' });
  for (const match of listing.matchAll(new RegExp(`^(${NS_PREFIX}(\\d+)x\\d+[gs])\\b`, 'gm'))) {
    const [, ns, pid] = match;
    if (ns !== undefined && !isProcessAlive(Number(pid))) deleteNamespace(ns);
  }
}

function deleteNamespace(ns: string): void {
  try {
    const pids = execFileSync(IP, ['netns', 'pids', ns], { encoding: 'utf8', stdio: 'pipe' });
    for (const pid of pids.split('\n').filter(Boolean)) {
      if (isProcessAlive(Number(pid))) process.kill(Number(pid), 'SIGKILL');
    }
    execFileSync(IP, ['netns', 'del', ns], { stdio: 'pipe' });
  } catch {
    // Already gone.
  }
}

function ip(...args: string[]): void {
  execFileSync(IP, args, { stdio: 'pipe' });
}

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {}
  }
  return undefined;
}

/** Polls `check` every 20 ms until it is true, or fails after `timeoutMs`. */
async function waitFor(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
