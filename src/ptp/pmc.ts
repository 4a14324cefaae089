import { execFile } from 'node:child_process';
import { AppError } from '../core/errors.js';

/**
 * pmc, the linuxptp management client, as the agent uses it: one `pmc -u -b 0 -d <domain> -s <uds>`
 * run per poll with the GETs of SNAPSHOT_COMMANDS, and a pure parser for its text output.
 *
 * pmc exits 0 even when nothing answered (missing socket, wrong domain, unknown command), so the only
 * sign of failure is a missing `RESPONSE MANAGEMENT <ID>` block; every reply is keyed on its header.
 */

/** Port states as ptp4l names them (linuxptp util.c ps_str; unchanged up to 4.4). */
const PORT_STATES = [
  'INITIALIZING',
  'FAULTY',
  'DISABLED',
  'LISTENING',
  'PRE_MASTER',
  'MASTER',
  'PASSIVE',
  'UNCALIBRATED',
  'SLAVE',
  'GRAND_MASTER',
] as const;
type PortState = (typeof PORT_STATES)[number];

/** One reply block: its header and its fields in order. */
export interface PmcBlock {
  /** Identity of the answering clock or port, `<clockIdentity>-<port>`; port 0 is clock-level data. */
  portIdentity: string;
  seq: number;
  /** `RESPONSE` for answers to GET/SET and for pushed events. */
  action: string;
  /** The management ID, e.g. `PORT_DATA_SET`; empty for NULL_MANAGEMENT. */
  managementId: string;
  fields: Map<string, string>;
}

/** PORT_DATA_SET of one port. */
export interface PortStatus {
  portIdentity: string;
  portNumber: number;
  portState: PortState;
}

/** TIME_STATUS_NP: offset to the grandmaster as this clock last measured it. */
interface TimeStatus {
  masterOffsetNs: number;
  /** 0 when no Sync arrived lately (no GM, or GM lost); `gmPresent` alone stays stale after a loss. */
  ingressTimeNs: bigint;
  isGmPresent: boolean;
  gmIdentity: string;
}

/** PARENT_DATA_SET: the grandmaster as this clock sees it. */
interface ParentDataSet {
  parentPortIdentity: string;
  grandmasterIdentity: string;
  gmClockClass: number;
  gmClockAccuracy: number;
  gmOffsetScaledLogVariance: number;
  grandmasterPriority1: number;
  grandmasterPriority2: number;
}

/** GRANDMASTER_SETTINGS_NP: what this clock advertises when it is the grandmaster. */
interface GrandmasterSettings {
  clockClass: number;
  clockAccuracy: number;
  offsetScaledLogVariance: number;
  currentUtcOffset: number;
  isCurrentUtcOffsetValid: boolean;
  isPtpTimescale: boolean;
  isTimeTraceable: boolean;
  isFrequencyTraceable: boolean;
  timeSource: number;
}

/** DEFAULT_DATA_SET: this clock's own identity and class. */
interface DefaultDataSet {
  clockIdentity: string;
  clockClass: number;
  isSlaveOnly: boolean;
  numberPorts: number;
  domainNumber: number;
}

/** Everything one poll of a ptp4l instance returns. */
export interface PmcSnapshot {
  ports: PortStatus[];
  timeStatus: TimeStatus;
  parent: ParentDataSet;
  grandmasterSettings: GrandmasterSettings;
  defaultDataSet: DefaultDataSet;
}

/** Where a ptp4l instance answers management messages. */
export interface PmcTarget {
  /** The instance's `uds_address`. */
  udsPath: string;
  /** The instance's `domainNumber`; a mismatch gets no reply at all. */
  domainNumber: number;
  /** The client's own socket (`-i`); pmc's default `/var/run/pmc.<pid>` needs root. */
  clientSocketPath?: string | undefined;
  pmcPath?: string | undefined;
  timeoutMs?: number | undefined;
}

/** The GETs one snapshot needs, in the order pmc sends them. */
const SNAPSHOT_COMMANDS = [
  'GET PORT_DATA_SET',
  'GET TIME_STATUS_NP',
  'GET PARENT_DATA_SET',
  'GET GRANDMASTER_SETTINGS_NP',
  'GET DEFAULT_DATA_SET',
] as const;

const SNAPSHOT_IDS = SNAPSHOT_COMMANDS.map((command) => command.slice('GET '.length));
const DEFAULT_TIMEOUT_MS = 2_000;
const HEADER = /^\t(\S+-\d+) seq (\d+) (\S+) MANAGEMENT(?: (\S+))?\s*$/;
const FIELD = /^\t\t(\S+)\s*(.*?)\s*$/;

/** Splits pmc output into reply blocks; `sending:` lines, stderr text and stray lines are skipped. */
export function parsePmcBlocks(text: string): PmcBlock[] {
  const blocks: PmcBlock[] = [];
  let current: PmcBlock | undefined;
  for (const line of text.split('\n')) {
    const header = HEADER.exec(line);
    if (header) {
      current = {
        portIdentity: header[1] ?? '',
        seq: Number(header[2]),
        action: header[3] ?? '',
        managementId: header[4] ?? '',
        fields: new Map(),
      };
      blocks.push(current);
      continue;
    }
    const field = FIELD.exec(line);
    if (field && current) {
      current.fields.set(field[1] ?? '', field[2] ?? '');
      continue;
    }
    // Anything else ends the block, so a field-shaped line after garbage is not taken as data.
    current = undefined;
  }
  return blocks;
}

/** Turns the output of one SNAPSHOT_COMMANDS run into a snapshot; throws `unavailable` when a reply is missing or malformed. */
export function parsePmcSnapshot(text: string): PmcSnapshot {
  const blocks = parsePmcBlocks(text).filter((block) => block.action === 'RESPONSE');
  const missing = SNAPSHOT_IDS.filter((id) => !blocks.some((block) => block.managementId === id));
  if (missing.length === SNAPSHOT_IDS.length) {
    throw pmcFailure(
      'no_response',
      'ptp4l did not answer pmc; check that it runs and uses this uds_address and domainNumber',
    );
  }
  if (missing.length > 0) {
    throw pmcFailure('partial_response', `ptp4l did not answer ${missing.join(', ')}`, { missing });
  }
  const only = (id: string): PmcBlock => blocks.find((block) => block.managementId === id) as PmcBlock;
  return {
    ports: blocks.filter((block) => block.managementId === 'PORT_DATA_SET').map(readPortStatus),
    timeStatus: readTimeStatus(only('TIME_STATUS_NP')),
    parent: readParentDataSet(only('PARENT_DATA_SET')),
    grandmasterSettings: readGrandmasterSettings(only('GRANDMASTER_SETTINGS_NP')),
    defaultDataSet: readDefaultDataSet(only('DEFAULT_DATA_SET')),
  };
}

/** Reads a PORT_DATA_SET block (polled, or pushed after SUBSCRIBE_EVENTS_NP NOTIFY_PORT_STATE). */
export function readPortStatus(block: PmcBlock): PortStatus {
  const portIdentity = text(block, 'portIdentity');
  const portState = text(block, 'portState');
  if (!(PORT_STATES as readonly string[]).includes(portState)) {
    throw malformed(block, 'portState', portState);
  }
  return {
    portIdentity,
    portNumber: Number(portIdentity.slice(portIdentity.lastIndexOf('-') + 1)),
    portState: portState as PortState,
  };
}

function readTimeStatus(block: PmcBlock): TimeStatus {
  const ingress = text(block, 'ingress_time');
  if (!/^\d+$/.test(ingress)) throw malformed(block, 'ingress_time', ingress);
  return {
    masterOffsetNs: integer(block, 'master_offset'),
    ingressTimeNs: BigInt(ingress),
    isGmPresent: flag(block, 'gmPresent'),
    gmIdentity: text(block, 'gmIdentity'),
  };
}

function readParentDataSet(block: PmcBlock): ParentDataSet {
  return {
    parentPortIdentity: text(block, 'parentPortIdentity'),
    grandmasterIdentity: text(block, 'grandmasterIdentity'),
    gmClockClass: integer(block, 'gm.ClockClass'),
    gmClockAccuracy: integer(block, 'gm.ClockAccuracy'),
    gmOffsetScaledLogVariance: integer(block, 'gm.OffsetScaledLogVariance'),
    grandmasterPriority1: integer(block, 'grandmasterPriority1'),
    grandmasterPriority2: integer(block, 'grandmasterPriority2'),
  };
}

function readGrandmasterSettings(block: PmcBlock): GrandmasterSettings {
  return {
    clockClass: integer(block, 'clockClass'),
    clockAccuracy: integer(block, 'clockAccuracy'),
    offsetScaledLogVariance: integer(block, 'offsetScaledLogVariance'),
    currentUtcOffset: integer(block, 'currentUtcOffset'),
    isCurrentUtcOffsetValid: flag(block, 'currentUtcOffsetValid'),
    isPtpTimescale: flag(block, 'ptpTimescale'),
    isTimeTraceable: flag(block, 'timeTraceable'),
    isFrequencyTraceable: flag(block, 'frequencyTraceable'),
    timeSource: integer(block, 'timeSource'),
  };
}

function readDefaultDataSet(block: PmcBlock): DefaultDataSet {
  return {
    clockIdentity: text(block, 'clockIdentity'),
    clockClass: integer(block, 'clockClass'),
    isSlaveOnly: flag(block, 'slaveOnly'),
    numberPorts: integer(block, 'numberPorts'),
    domainNumber: integer(block, 'domainNumber'),
  };
}

/** Runs pmc once with `commands` and resolves with its stdout; throws `unavailable` when pmc cannot run or times out. */
export function runPmc(target: PmcTarget, commands: readonly string[]): Promise<string> {
  const args = ['-u', '-b', '0', '-d', String(target.domainNumber), '-s', target.udsPath];
  if (target.clientSocketPath !== undefined) args.push('-i', target.clientSocketPath);
  const timeout = target.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    execFile(
      target.pmcPath ?? 'pmc',
      [...args, ...commands],
      { timeout, killSignal: 'SIGKILL' },
      (error, stdout) => {
        if (error === null) {
          resolve(stdout);
          return;
        }
        const reason = error.killed ? 'timeout' : 'exec_failed';
        reject(pmcFailure(reason, `pmc for "${target.udsPath}" failed: ${error.message}`, { stdout }));
      },
    );
  });
}

/** Polls one ptp4l instance: runs SNAPSHOT_COMMANDS and parses the answer; throws `unavailable`. */
export async function queryPmcSnapshot(target: PmcTarget): Promise<PmcSnapshot> {
  return parsePmcSnapshot(await runPmc(target, SNAPSHOT_COMMANDS));
}

function text(block: PmcBlock, name: string): string {
  const value = block.fields.get(name);
  if (value === undefined || value === '') throw malformed(block, name, value);
  return value;
}

/** Decimal or `0x` hex (clockAccuracy, offsetScaledLogVariance, timeSource). */
function integer(block: PmcBlock, name: string): number {
  const value = text(block, name);
  if (!/^(-?\d+|0x[0-9a-fA-F]+)$/.test(value)) throw malformed(block, name, value);
  return Number(value);
}

/** `true`/`false` (gmPresent) or `1`/`0` (the data-set flags). */
function flag(block: PmcBlock, name: string): boolean {
  const value = text(block, name);
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw malformed(block, name, value);
}

function malformed(block: PmcBlock, name: string, value: string | undefined): AppError {
  const shown = value === undefined ? 'no value' : `"${value}"`;
  return pmcFailure('malformed', `pmc reply ${block.managementId} has ${shown} for "${name}"`, {
    managementId: block.managementId,
    field: name,
  });
}

function pmcFailure(reason: string, message: string, details: Record<string, unknown> = {}): AppError {
  return new AppError('unavailable', message, { reason, ...details });
}
