import type {
  MonitorDirective,
  Phc2sysMonitorDirective,
  Ptp4lMonitorDirective,
  RenderedFile,
} from '../inventory/agent-protocol.js';
import type { PtpMonitoredHost } from './status-registry.js';

/** What the agent must monitor for a host, and which instance the host's node status comes from. */
export interface PtpHostMonitoring {
  monitors: MonitorDirective[];
  host: PtpMonitoredHost;
}

const UNIT = /^etc\/systemd\/system\/(ptp4l|phc2sys)@([A-Za-z0-9_-]+)\.service$/;
const TRANSMIT_ONLY = new Set(['serverOnly', 'masterOnly']);

/**
 * The ptp4l and phc2sys instances among a host's applied PTP files (render.ts: a `<service>@<name>.service`
 * unit and `etc/linuxptp/<name>.conf`), ptp4l ones first, each kind in the order the files are listed
 * (render.ts sorts them, so by name). A ptp4l directive carries the `uds_address` and `domainNumber` of
 * its `[global]` section (linuxptp's default domain is 0); a phc2sys directive the ptp4l instances it
 * follows (`phc2sysSources`).
 *
 * The primary instance, whose status is the node's (O-RAN `sync-state`, `ptp-status/lock-state`): the
 * first ptp4l instance by name that can take time from the network, i.e. not `serverOnly`/`masterOnly 1`
 * for every port; a host whose instances only serve time (a T-GM) takes its first one. So a dual-NIC
 * boundary clock reports the instance facing its time source, an ordinary clock its only instance.
 * The node's os clock is its first phc2sys instance by name (a host normally runs one).
 */
export function ptpHostMonitoring(files: readonly RenderedFile[]): PtpHostMonitoring {
  const ptp4ls: { directive: Ptp4lMonitorDirective; sections: Sections }[] = [];
  const phc2syses: { name: string; sections: Sections }[] = [];
  let primary: string | undefined;
  let firstTransmitter: string | undefined;
  for (const unit of files) {
    const [, service, name] = UNIT.exec(unit.path) ?? [];
    const config = files.find((file) => file.path === `etc/linuxptp/${name}.conf`);
    if (name === undefined || config === undefined) continue;
    const sections = parseSections(config.content);
    if (service === 'phc2sys') {
      phc2syses.push({ name, sections });
      continue;
    }
    const global = sections.get('global') ?? new Map<string, string>();
    const udsAddress = global.get('uds_address');
    if (udsAddress === undefined) continue;
    const domainNumber = Number(global.get('domainNumber') ?? '0');
    ptp4ls.push({ directive: { kind: 'ptp4l', instance: name, udsAddress, domainNumber }, sections });
    if (isTransmitOnly(sections)) firstTransmitter ??= name;
    else primary ??= name;
  }
  const phc2sys: Phc2sysMonitorDirective[] = phc2syses.map(({ name, sections }) => ({
    kind: 'phc2sys',
    instance: name,
    configPath: `/etc/linuxptp/${name}.conf`,
    sources: phc2sysSources(sections, ptp4ls),
  }));
  const monitors: MonitorDirective[] = [...ptp4ls.map((entry) => entry.directive), ...phc2sys];
  return {
    monitors,
    host: {
      instances: monitors.map((monitor) => monitor.instance),
      primary: primary ?? firstTransmitter,
      phc2sys: phc2sys.map((directive) => directive.instance),
    },
  };
}

type Sections = Map<string, Map<string, string>>;

/**
 * What a rendered phc2sys configuration follows (render.ts `phc2sysSections`): stock phc2sys the
 * ptp4l instance whose socket is the `[global]` `uds_address`, reading the PHC of that instance's ports;
 * failover phc2sys (`ha_enabled 1`) one section per port, named after the interface, with the owning
 * instance's `ha_uds_address` and the port's `ha_priority` (higher first; StarlingX's default is 0).
 * A socket no rendered ptp4l instance owns is left out.
 */
function phc2sysSources(
  sections: Sections,
  ptp4ls: readonly { directive: Ptp4lMonitorDirective; sections: Sections }[],
): Phc2sysMonitorDirective['sources'] {
  const owner = (udsAddress: string | undefined) =>
    ptp4ls.find((entry) => entry.directive.udsAddress === udsAddress);
  const ports = [...sections.entries()].filter(([name]) => name !== 'global');
  if (sections.get('global')?.get('ha_enabled') !== '1') {
    const source = owner(sections.get('global')?.get('uds_address'));
    if (source === undefined) return [];
    const interfaces = [...source.sections.keys()].filter((name) => name !== 'global');
    return [{ ptp4l: source.directive.instance, interfaces }];
  }
  const priority = (section: Map<string, string>) => Number(section.get('ha_priority') ?? '0') || 0;
  const ranked = ports
    .map(([ifname, section], index) => ({ ifname, section, index }))
    .sort((a, b) => priority(b.section) - priority(a.section) || a.index - b.index);
  const sources: Phc2sysMonitorDirective['sources'] = [];
  for (const { ifname, section } of ranked) {
    const ptp4l = owner(section.get('ha_uds_address'))?.directive.instance;
    if (ptp4l === undefined) continue;
    const known = sources.find((source) => source.ptp4l === ptp4l);
    if (known) known.interfaces.push(ifname);
    else sources.push({ ptp4l, interfaces: [ifname] });
  }
  return sources;
}

/** True when `[global]` or every port section sets serverOnly/masterOnly to 1. */
function isTransmitOnly(sections: Sections): boolean {
  const only = (section: Map<string, string> | undefined) =>
    [...TRANSMIT_ONLY].some((key) => section?.get(key) === '1');
  if (only(sections.get('global'))) return true;
  const ports = [...sections.entries()].filter(([name]) => name !== 'global');
  return ports.length > 0 && ports.every(([, section]) => only(section));
}

/** linuxptp's format: `[section]` lines, then `name value` lines; `#` starts a comment line. */
function parseSections(content: string): Sections {
  const sections: Sections = new Map();
  let current: Map<string, string> | undefined;
  for (const raw of content.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1] !== undefined) {
      current = new Map();
      sections.set(header[1], current);
      continue;
    }
    const at = line.search(/\s/);
    if (current !== undefined && at > 0) current.set(line.slice(0, at), line.slice(at).trim());
  }
  return sections;
}
