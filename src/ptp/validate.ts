import { invalidInput, notFound } from '../core/errors.js';
import {
  hostInstances,
  instancePorts,
  isValidPtpName,
  type PtpHost,
  type PtpInstance,
  type PtpParameter,
  type PtpProblem,
  type PtpProblemCode,
  type PtpSite,
} from './model.js';
import { describeBadValue, findParameter, type ParameterSpec } from './parameters.js';
import { checkHostSources, checkTs2phcSource } from './sources.js';

/** Every problem of the site, site-wide ones first, then host by host. */
export function validatePtpSite(site: PtpSite): PtpProblem[] {
  const problems: PtpProblem[] = [...checkNames(site)];
  for (const instance of site.instances) {
    problems.push(...checkInstanceParameters(site, instance), ...checkTs2phcSource(instance));
  }
  for (const host of site.hosts) problems.push(...checkHost(site, host));
  return problems;
}

/**
 * Throws `invalid_input` naming the first problem that stops `hostname`'s PTP files from being
 * rendered, with all of them in `details.problems`; throws `not_found` for an unknown host.
 */
export function assertPtpHostValid(site: PtpSite, hostname: string): void {
  const host = site.hosts.find((candidate) => candidate.hostname === hostname);
  if (!host) throw notFound('host', hostname);
  const assigned = new Set(host.instances);
  const problems = validatePtpSite(site).filter((problem) =>
    problem.host === undefined
      ? problem.instance === undefined || assigned.has(problem.instance)
      : problem.host === hostname,
  );
  const first = problems[0];
  if (first) throw invalidInput('ptp', first.message, { hostname, problems });
}

/** Files the linuxptp package ships next to the per-instance configurations murm writes. */
const PACKAGED_CONFIGS = new Set(['ptp4l', 'timemaster']);

/**
 * Names and references. A problem carries `instance` when only hosts running that instance are
 * affected, so `assertPtpHostValid` does not block other hosts on it.
 */
function checkNames(site: PtpSite): PtpProblem[] {
  const problems: PtpProblem[] = [];
  const badName = (kind: string, name: string) =>
    `${kind} name "${name}" may only contain letters, digits, "-" and "_" (at most 64)`;
  for (const { name } of site.instances) {
    if (!isValidPtpName(name))
      problems.push({ code: 'invalid-name', message: badName('ptp instance', name), instance: name });
    if (PACKAGED_CONFIGS.has(name)) {
      problems.push({
        code: 'invalid-name',
        message: `ptp instance name "${name}" would overwrite /etc/linuxptp/${name}.conf of the linuxptp package; choose another name`,
        instance: name,
      });
    }
  }
  for (const name of duplicates(site.instances.map((instance) => instance.name))) {
    problems.push({
      code: 'duplicate-name',
      message: `ptp instance "${name}" is defined more than once`,
      instance: name,
    });
  }
  for (const [kind, names] of [
    ['ptp interface', site.interfaces.map((ptpInterface) => ptpInterface.name)],
    ['host', site.hosts.map((host) => host.hostname)],
  ] as const) {
    for (const name of duplicates(names)) {
      problems.push({ code: 'duplicate-name', message: `${kind} "${name}" is defined more than once` });
    }
  }
  const hostnames = new Set(site.hosts.map((host) => host.hostname));
  for (const { name, instance, hostInterfaces } of site.interfaces) {
    if (!isValidPtpName(name))
      problems.push({ code: 'invalid-name', message: badName('ptp interface', name), instance });
    if (!site.instances.some((candidate) => candidate.name === instance)) {
      problems.push({
        code: 'unknown-instance',
        message: `ptp interface "${name}" belongs to ptp instance "${instance}", which does not exist`,
        instance,
      });
    }
    for (const hostname of Object.keys(hostInterfaces).filter((candidate) => !hostnames.has(candidate))) {
      problems.push({
        code: 'unknown-host',
        message: `ptp interface "${name}" is assigned on host "${hostname}", which is not known`,
        instance,
      });
    }
  }
  return problems;
}

/** Checks that do not depend on the host: names known to some linuxptp version, scope, values. */
function checkInstanceParameters(site: PtpSite, instance: PtpInstance): PtpProblem[] {
  const owner = `${instance.service} instance "${instance.name}"`;
  const problems = checkParameters(instance, owner, instance.parameters, 'instance');
  for (const ptpInterface of site.interfaces.filter((candidate) => candidate.instance === instance.name)) {
    const where = `ptp interface "${ptpInterface.name}" (${owner})`;
    problems.push(...checkParameters(instance, where, ptpInterface.parameters, 'interface'));
  }
  return problems;
}

function checkParameters(
  instance: PtpInstance,
  where: string,
  parameters: readonly PtpParameter[],
  level: 'instance' | 'interface',
): PtpProblem[] {
  const problems: PtpProblem[] = [];
  const add = (code: PtpProblemCode, message: string) =>
    problems.push({ code, message, instance: instance.name });
  for (const name of duplicates(parameters.map((parameter) => parameter.name))) {
    add('duplicate-parameter', `${where} sets "${name}" more than once`);
  }
  for (const { name, value } of parameters) {
    const spec = findParameter(instance.service, '3.1', name) ?? findParameter(instance.service, '4', name);
    if (!spec) {
      add('unknown-parameter', `${instance.service} has no parameter "${name}" (in ${where})`);
    } else if (spec.isSetByMurm) {
      add('reserved-parameter', `"${name}" of ${where} is set by murm for each instance; remove it`);
    } else if (!isAllowedAt(spec, level)) {
      add(
        'misplaced-parameter',
        level === 'instance'
          ? `"${name}" is a port parameter of ${instance.service}; set it on a ptp interface of "${instance.name}", not on the instance`
          : `"${name}" is not a port parameter of ${instance.service}; set it on ptp instance "${instance.name}" (in ${where})`,
      );
    } else {
      const reason = describeBadValue(spec, value);
      if (reason) add('invalid-value', `"${name}" of ${where} ${reason} (got "${value}")`);
    }
  }
  return problems;
}

function isAllowedAt(spec: ParameterSpec, level: 'instance' | 'interface'): boolean {
  if (spec.scope === 'any') return true;
  return level === 'interface' ? spec.scope === 'port' : spec.scope !== 'port';
}

function checkHost(site: PtpSite, host: PtpHost): PtpProblem[] {
  const problems: PtpProblem[] = [];
  const add = (code: PtpProblemCode, message: string, instance?: string) =>
    problems.push(
      instance === undefined
        ? { code, message, host: host.hostname }
        : { code, message, host: host.hostname, instance },
    );
  for (const name of host.instances) {
    if (!site.instances.some((instance) => instance.name === name)) {
      add(
        'unknown-instance',
        `host "${host.hostname}" is assigned ptp instance "${name}", which does not exist`,
      );
    }
  }
  checkVersionParameters(site, host, add);
  checkHostInterfaces(site, host, add);
  checkPortOwners(site, host, add);
  for (const instance of hostInstances(site, host))
    problems.push(...checkPorts(site, host.hostname, instance));
  problems.push(...checkHostSources(site, host));
  return problems;
}

type AddProblem = (code: PtpProblemCode, message: string, instance?: string) => void;

/** Names that exist in linuxptp, but not in the version the host runs (`clientOnly` on 3.1). */
function checkVersionParameters(site: PtpSite, host: PtpHost, add: AddProblem): void {
  for (const instance of hostInstances(site, host)) {
    const parameters = [
      ...instance.parameters,
      ...site.interfaces
        .filter((ptpInterface) => ptpInterface.instance === instance.name)
        .flatMap((ptpInterface) => ptpInterface.parameters),
    ];
    for (const { name } of parameters) {
      const isKnownSomewhere =
        findParameter(instance.service, '3.1', name) ?? findParameter(instance.service, '4', name);
      if (isKnownSomewhere && !findParameter(instance.service, host.linuxptpVersion, name)) {
        add(
          'unknown-parameter',
          `${instance.service} (linuxptp ${host.linuxptpVersion}) on host "${host.hostname}" has no parameter "${name}" (set on "${instance.name}")`,
          instance.name,
        );
      }
    }
  }
}

/** Ports must be NICs the host has, of instances the host runs. */
function checkHostInterfaces(site: PtpSite, host: PtpHost, add: AddProblem): void {
  const hostname = host.hostname;
  const nics = host.network ? new Set(host.network.map((nic) => nic.name)) : undefined;
  for (const ptpInterface of site.interfaces) {
    const ifnames = ptpInterface.hostInterfaces[hostname] ?? [];
    if (ifnames.length > 0 && !host.instances.includes(ptpInterface.instance)) {
      add(
        'instance-not-assigned',
        `ptp interface "${ptpInterface.name}" has ports on host "${hostname}", but its instance "${ptpInterface.instance}" is not assigned to the host; assign it first`,
        ptpInterface.instance,
      );
    }
    for (const ifname of ifnames.filter((name) => nics && !nics.has(name))) {
      add(
        'unknown-host-interface',
        `ptp interface "${ptpInterface.name}" is assigned to "${ifname}" on host "${hostname}", which has no such interface (it has ${[...(nics ?? [])].sort().join(', ') || 'none'})`,
        ptpInterface.instance,
      );
    }
  }
}

/** A NIC port runs at most one ptp4l: two would fight over its PTP traffic and its PHC. */
function checkPortOwners(site: PtpSite, host: PtpHost, add: AddProblem): void {
  const owners = new Map<string, string[]>();
  for (const instance of hostInstances(site, host).filter((candidate) => candidate.service === 'ptp4l')) {
    for (const { ifname } of instancePorts(site, host.hostname, instance.name)) {
      owners.set(ifname, [...(owners.get(ifname) ?? []), instance.name]);
    }
  }
  for (const [ifname, names] of [...owners].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (names.length > 1) {
      add(
        'interface-conflict',
        `interface "${ifname}" of host "${host.hostname}" is a port of ptp4l instances ${names.map((name) => `"${name}"`).join(' and ')}; a port belongs to one ptp4l instance`,
      );
    }
  }
}

/** Daemons that need ports on the host, and what to tell the user when they have none. */
const PORT_PURPOSE: Partial<Record<PtpInstance['service'], string>> = {
  ptp4l: 'the NIC ports it should run PTP on',
  ts2phc: 'the NIC whose PHC takes the GNSS 1PPS',
  synce4l: 'the NIC ports that recover or forward SyncE frequency',
};

function checkPorts(site: PtpSite, hostname: string, instance: PtpInstance): PtpProblem[] {
  const purpose = PORT_PURPOSE[instance.service];
  if (!purpose || instancePorts(site, hostname, instance.name).length > 0) return [];
  return [
    {
      code: 'no-ports',
      message: `${instance.service} instance "${instance.name}" has no interfaces on host "${hostname}"; assign a ptp interface of it to ${purpose}`,
      host: hostname,
      instance: instance.name,
    },
  ];
}

function duplicates(names: readonly string[]): string[] {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const name of names) (seen.has(name) ? repeated : seen).add(name);
  return [...repeated];
}
