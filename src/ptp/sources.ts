import {
  hostInstances,
  instancePorts,
  type PtpHost,
  type PtpInstance,
  type PtpProblem,
  type PtpSite,
  parameterValue,
} from './model.js';

/**
 * Where the time of phc2sys and ts2phc instances comes from. phc2sys follows ptp4l instances on the
 * same host through their management sockets: with no ptp interface it follows the host's only ptp4l
 * instance; with ptp interfaces it follows the ptp4l instances owning those ports. Stock phc2sys
 * (`-a`) follows one ptp4l; following several (a dual-NIC boundary clock) needs StarlingX's
 * phc2sys with `ha_enabled 1`, which fails over between them by `ha_priority`.
 */

/** One ptp4l instance a phc2sys instance follows, through the port `ifname` when it names one. */
interface Phc2sysSource {
  ptp4l: PtpInstance;
  ifname?: string;
  /** `ha_priority` of the ptp interface that named the port. */
  priority?: string;
}

export type Phc2sysSourcing =
  | { isHighAvailability: boolean; sources: Phc2sysSource[] }
  | { problem: PtpProblem };

/** The sources of `phc2sys` on `host`, or the problem that leaves it without a usable one. */
export function resolvePhc2sysSources(site: PtpSite, host: PtpHost, phc2sys: PtpInstance): Phc2sysSourcing {
  const hostname = host.hostname;
  const who = `phc2sys instance "${phc2sys.name}" on host "${hostname}"`;
  const problem = (code: PtpProblem['code'], message: string): Phc2sysSourcing => ({
    problem: { code, message, host: hostname, instance: phc2sys.name },
  });
  const isHighAvailability = parameterValue(phc2sys.parameters, 'ha_enabled') === '1';
  const ptp4ls = hostInstances(site, host).filter((instance) => instance.service === 'ptp4l');
  const ports = instancePorts(site, hostname, phc2sys.name);
  if (ports.length === 0) {
    if (isHighAvailability) {
      return problem(
        'no-source',
        `${who} has ha_enabled=1 but no interfaces; assign its ptp interfaces to the ptp4l ports to fail over between`,
      );
    }
    const [only, ...others] = ptp4ls;
    if (!only) {
      return problem(
        'no-source',
        `${who} has no ptp4l instance to follow; assign a ptp4l instance to the host`,
      );
    }
    if (others.length > 0) {
      return problem(
        'ambiguous-source',
        `${who} could follow ptp4l instances ${names(ptp4ls)}; assign a ptp interface of "${phc2sys.name}" to the port to follow`,
      );
    }
    return { isHighAvailability, sources: [{ ptp4l: only }] };
  }
  const sources: Phc2sysSource[] = [];
  for (const port of ports) {
    const owner = ptp4ls.find((ptp4l) =>
      instancePorts(site, hostname, ptp4l.name).some((candidate) => candidate.ifname === port.ifname),
    );
    if (!owner) {
      return problem(
        'no-source',
        `${who} follows "${port.ifname}", which is not a port of any ptp4l instance on the host`,
      );
    }
    const priority = parameterValue(port.ptpInterface.parameters, 'ha_priority');
    sources.push({ ptp4l: owner, ifname: port.ifname, ...(priority === undefined ? {} : { priority }) });
  }
  const followed = [...new Set(sources.map((source) => source.ptp4l))];
  if (followed.length > 1 && !isHighAvailability) {
    return problem(
      'ambiguous-source',
      `${who} follows ptp4l instances ${names(followed)}; stock phc2sys follows one, so set ha_enabled=1 (StarlingX phc2sys) or keep the ports of one`,
    );
  }
  return { isHighAvailability, sources };
}

/** The phc2sys source problems of every phc2sys instance on `host`. */
export function checkHostSources(site: PtpSite, host: PtpHost): PtpProblem[] {
  return hostInstances(site, host)
    .filter((instance) => instance.service === 'phc2sys')
    .flatMap((phc2sys) => {
      const sourcing = resolvePhc2sysSources(site, host, phc2sys);
      return 'problem' in sourcing ? [sourcing.problem] : [];
    });
}

/** Whether a ts2phc instance reads time of day from a GNSS receiver, over a serial port or TCP. */
function hasNmeaSource(ts2phc: PtpInstance): boolean {
  const has = (name: string) => parameterValue(ts2phc.parameters, name) !== undefined;
  return has('ts2phc.nmea_serialport') || (has('ts2phc.nmea_remote_host') && has('ts2phc.nmea_remote_port'));
}

/**
 * ts2phc needs a time-of-day source for its 1PPS. linuxptp would fall back to /dev/ttyS0, which is
 * rarely the GNSS receiver, so murm asks for the device to be named.
 */
export function checkTs2phcSource(instance: PtpInstance): PtpProblem[] {
  if (instance.service !== 'ts2phc' || hasNmeaSource(instance)) return [];
  return [
    {
      code: 'no-source',
      message: `ts2phc instance "${instance.name}" has no GNSS source; set ts2phc.nmea_serialport to the receiver's serial device (e.g. /dev/gnss0) or ts2phc.nmea_remote_host and ts2phc.nmea_remote_port`,
      instance: instance.name,
    },
  ];
}

function names(instances: readonly PtpInstance[]): string {
  return instances.map((instance) => `"${instance.name}"`).join(', ');
}
