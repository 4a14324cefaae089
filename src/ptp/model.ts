import { invalidInput } from '../core/errors.js';
import type { NetworkInterface } from '../inventory/topology.js';

/**
 * The PTP configuration of a site, in StarlingX's terms: PTP instances (one daemon configuration
 * each), PTP interfaces (a set of ports of one instance, with port parameters), the instances each
 * host runs and the host interfaces each PTP interface takes on each host. `PtpSite` is the snapshot
 * the validator and the renderer read; nothing here does I/O.
 */

/** The services a PTP instance can be (StarlingX `ptp-instance-add` types). */
export const PTP_SERVICES = ['ptp4l', 'phc2sys', 'ts2phc', 'synce4l', 'clock'] as const;
export type PtpService = (typeof PTP_SERVICES)[number];

/** linuxptp releases whose configuration names murm knows; the agent reports `ptp4l -v`. */
export const LINUXPTP_VERSIONS = ['3.1', '4'] as const;
export type LinuxptpVersion = (typeof LINUXPTP_VERSIONS)[number];

/** One `name=value` parameter; order is kept, as it is written to the configuration file. */
export interface PtpParameter {
  name: string;
  value: string;
}

/** A PTP instance; its parameters make the `[global]` section (StarlingX "instance parameters"). */
export interface PtpInstance {
  name: string;
  service: PtpService;
  parameters: readonly PtpParameter[];
}

/** A PTP interface: ports of one instance sharing port parameters (StarlingX "interface parameters"). */
export interface PtpInterface {
  name: string;
  /** Name of the owning PTP instance. */
  instance: string;
  parameters: readonly PtpParameter[];
  /** Host name → names of that host's network interfaces this PTP interface is assigned to. */
  hostInterfaces: Readonly<Record<string, readonly string[]>>;
}

/** A host's PTP assignments. */
export interface PtpHost {
  hostname: string;
  linuxptpVersion: LinuxptpVersion;
  /** Names of the PTP instances assigned to the host. */
  instances: readonly string[];
  /** The host's NICs from the inventory; undefined while the agent has not reported any. */
  network?: readonly NetworkInterface[] | undefined;
}

/** Everything the validator and renderer need, read in one snapshot. */
export interface PtpSite {
  instances: readonly PtpInstance[];
  interfaces: readonly PtpInterface[];
  hosts: readonly PtpHost[];
}

/** StarlingX's rule for PTP instance and interface names; also safe in file and systemd unit names. */
const PTP_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Whether `name` can name a PTP instance or PTP interface. */
export function isValidPtpName(name: string): boolean {
  return PTP_NAME.test(name);
}

/**
 * Parses `name=value` as typed on the CLI (`murm ptp instance parameter add ptp1 domainNumber=24`).
 * The value may contain `=` and spaces but not a line break. Throws `invalid_input` otherwise.
 */
export function parsePtpParameter(text: string): PtpParameter {
  const at = text.indexOf('=');
  const name = at < 0 ? '' : text.slice(0, at).trim();
  const value = at < 0 ? '' : text.slice(at + 1).trim();
  if (!/^[A-Za-z0-9_.]+$/.test(name) || value === '' || /[\r\n]/.test(value)) {
    throw invalidInput('parameter', `parameter "${text}" must be name=value, e.g. domainNumber=24`, {
      parameter: text,
    });
  }
  return { name, value };
}

const PTP_PROBLEM_CODES = [
  'invalid-name',
  'duplicate-name',
  'unknown-instance',
  'unknown-host',
  'unknown-parameter',
  'misplaced-parameter',
  'reserved-parameter',
  'duplicate-parameter',
  'invalid-value',
  'unknown-host-interface',
  'instance-not-assigned',
  'interface-conflict',
  'no-ports',
  'no-source',
  'ambiguous-source',
] as const;
export type PtpProblemCode = (typeof PTP_PROBLEM_CODES)[number];

/** One thing wrong with a site's PTP configuration; `host` is set when it concerns one host only. */
export interface PtpProblem {
  code: PtpProblemCode;
  message: string;
  host?: string;
  instance?: string;
}

/** One port of an instance on a host: a host interface and the PTP interface that assigned it. */
export interface PtpPort {
  ifname: string;
  ptpInterface: PtpInterface;
}

/** The value of the last `name` in `parameters` (a later one wins, as in linuxptp's parser), if any. */
export function parameterValue(parameters: readonly PtpParameter[], name: string): string | undefined {
  return parameters.findLast((parameter) => parameter.name === name)?.value;
}

/** The instances assigned to `host` that the site defines, in assignment order, each once. */
export function hostInstances(site: PtpSite, host: PtpHost): PtpInstance[] {
  const names = [...new Set(host.instances)];
  return names.flatMap((name) => site.instances.find((instance) => instance.name === name) ?? []);
}

/** The ports `instance` has on `hostname`, sorted by interface name. */
export function instancePorts(site: PtpSite, hostname: string, instance: string): PtpPort[] {
  const ports: PtpPort[] = [];
  for (const ptpInterface of site.interfaces) {
    if (ptpInterface.instance !== instance) continue;
    for (const ifname of ptpInterface.hostInterfaces[hostname] ?? []) ports.push({ ifname, ptpInterface });
  }
  return ports.sort((a, b) => (a.ifname < b.ifname ? -1 : a.ifname > b.ifname ? 1 : 0));
}

/** The management socket of a ptp4l instance: unique per instance so pmc and phc2sys reach the right one. */
export function ptp4lSocketPath(instance: string): string {
  return `/var/run/ptp4l-${instance}`;
}
