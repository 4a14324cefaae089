import * as assert from 'node:assert/strict';
import type { RenderedFile } from '../inventory/agent-protocol.js';
import {
  hostInstances,
  instancePorts,
  type LinuxptpVersion,
  type PtpHost,
  type PtpInstance,
  type PtpParameter,
  type PtpSite,
  parameterValue,
  ptp4lSocketPath,
} from './model.js';
import { fileParameterName, findParameter } from './parameters.js';
import { resolvePhc2sysSources } from './sources.js';
import { assertPtpHostValid } from './validate.js';

/**
 * Renders a host's PTP instances as files under the agent's root:
 *
 * - `etc/linuxptp/<instance>.conf`: the daemon's configuration, `[global]` (the instance parameters)
 *   then one section per port (the interface parameters).
 * - `etc/systemd/system/<service>@<instance>.service`: a complete unit for that instance. Debian's
 *   linuxptp 3.1.1 ships `ptp4l@.service` keyed by interface name with the fixed
 *   `/etc/linuxptp/ptp4l.conf`, a `phc2sys@.service` that requires a `ptp4l.service` it does not
 *   ship, and no ts2phc or synce4l unit, so a drop-in cannot give each instance its own file. systemd
 *   prefers an instance's own unit file to the template, which leaves the packaged units untouched
 *   for anything else and keeps StarlingX's unit names (`ptp4l@<instance>`).
 *
 * `clock` instances configure NIC pins through sysfs and render no file.
 */

const FILE_MODE = 0o644;

type Entry = readonly [name: string, value: string];
interface Section {
  name: string;
  entries: readonly Entry[];
}

interface InstanceContext {
  site: PtpSite;
  host: PtpHost;
  instance: PtpInstance;
}

/**
 * The PTP files of `hostname`, sorted by path. Throws `not_found` for an unknown host and
 * `invalid_input` (every problem in `details.problems`) when the host's configuration is invalid.
 */
export function renderPtpHost(site: PtpSite, hostname: string): RenderedFile[] {
  assertPtpHostValid(site, hostname);
  const host = site.hosts.find((candidate) => candidate.hostname === hostname);
  assert.ok(host, 'assertPtpHostValid checked the host exists');
  const files: RenderedFile[] = [];
  for (const instance of hostInstances(site, host)) {
    if (instance.service === 'clock') continue;
    const context = { site, host, instance };
    files.push(
      file(configPath(instance), configFile(context, sectionsOf(context))),
      file(`etc/systemd/system/${unitName(instance)}`, unitFile(context)),
    );
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function file(path: string, content: string): RenderedFile {
  return { path, mode: FILE_MODE, content };
}

function configPath(instance: PtpInstance): string {
  return `etc/linuxptp/${instance.name}.conf`;
}

function unitName(instance: PtpInstance): string {
  return `${instance.service}@${instance.name}.service`;
}

function sectionsOf(context: InstanceContext): Section[] {
  switch (context.instance.service) {
    case 'ptp4l':
      return ptp4lSections(context);
    case 'phc2sys':
      return phc2sysSections(context);
    case 'ts2phc':
      return withPortSections(context, [['message_tag', context.instance.name]]);
    case 'synce4l':
      return synce4lSections(context);
    case 'clock':
      return [];
  }
}

/** User parameters under the names the host's linuxptp version reads. */
function named(context: InstanceContext, parameters: readonly PtpParameter[]): Entry[] {
  const { service } = context.instance;
  const version: LinuxptpVersion = context.host.linuxptpVersion;
  return parameters.map(({ name, value }) => [fileParameterName(service, version, name), value]);
}

/** `[global]` with the instance parameters and `extra`, then a section per port with its interface parameters. */
function withPortSections(context: InstanceContext, extra: readonly Entry[]): Section[] {
  const { site, host, instance } = context;
  return [
    { name: 'global', entries: [...named(context, instance.parameters), ...extra] },
    ...instancePorts(site, host.hostname, instance.name).map((port) => ({
      name: port.ifname,
      entries: named(context, port.ptpInterface.parameters),
    })),
  ];
}

/** Each instance gets its own sockets and log tag, so several ptp4l instances can share a host. */
function ptp4lSections(context: InstanceContext): Section[] {
  const name = context.instance.name;
  const extra: Entry[] = [['uds_address', ptp4lSocketPath(name)]];
  // linuxptp 4.x adds a read-only socket with a fixed default path that instances would fight over.
  if (context.host.linuxptpVersion === '4') extra.push(['uds_ro_address', `/var/run/ptp4lro-${name}`]);
  extra.push(['message_tag', name]);
  return withPortSections(context, extra);
}

/**
 * Stock phc2sys (`-a -r`) takes the followed ptp4l's socket and domain in `[global]`. StarlingX's
 * failover phc2sys (`ha_enabled 1`) takes one section per followed port instead, each with the
 * socket and domain of the ptp4l instance owning the port and the port's `ha_priority`.
 */
function phc2sysSections(context: InstanceContext): Section[] {
  const { site, host, instance } = context;
  const sourcing = resolvePhc2sysSources(site, host, instance);
  assert.ok(!('problem' in sourcing), 'assertPtpHostValid checked the phc2sys sources');
  const global: Entry[] = named(context, instance.parameters);
  if (!sourcing.isHighAvailability) {
    const [source] = sourcing.sources;
    assert.ok(source && sourcing.sources.every((other) => other.ptp4l === source.ptp4l));
    global.push(
      ['domainNumber', domainOf(source.ptp4l)],
      ['uds_address', ptp4lSocketPath(source.ptp4l.name)],
    );
  }
  global.push(['message_tag', instance.name]);
  if (!sourcing.isHighAvailability) return [{ name: 'global', entries: global }];
  return [
    { name: 'global', entries: global },
    ...sourcing.sources.map((source) => {
      const port = instancePorts(site, host.hostname, instance.name).find((p) => p.ifname === source.ifname);
      assert.ok(port && source.ifname !== undefined, 'high availability sources come from ports');
      const entries: Entry[] = [
        ...named(context, port.ptpInterface.parameters),
        ['ha_uds_address', ptp4lSocketPath(source.ptp4l.name)],
        ['ha_domainNumber', domainOf(source.ptp4l)],
      ];
      return { name: source.ifname, entries };
    }),
  ];
}

/** linuxptp's default domain is 0. */
function domainOf(ptp4l: PtpInstance): string {
  return parameterValue(ptp4l.parameters, 'domainNumber') ?? '0';
}

/** synce4l reads `[global]`, then a `[<device>]` section with the device parameters, then its ports. */
function synce4lSections(context: InstanceContext): Section[] {
  const { instance } = context;
  const isDevice = (parameter: PtpParameter) =>
    findParameter('synce4l', context.host.linuxptpVersion, parameter.name)?.scope === 'device';
  const [global, ...ports] = withPortSections(
    { ...context, instance: { ...instance, parameters: instance.parameters.filter((p) => !isDevice(p)) } },
    [['message_tag', instance.name]],
  );
  assert.ok(global);
  const device: Section = {
    name: `<${instance.name}>`,
    entries: named(context, instance.parameters.filter(isDevice)),
  };
  return [global, device, ...ports];
}

function configFile(context: InstanceContext, sections: readonly Section[]): string {
  const { host, instance } = context;
  const lines = [
    `# Written by murm for host ${JSON.stringify(host.hostname)}; murm rewrites it on every apply, do not edit.`,
    // synce4l is not part of linuxptp; its configuration does not depend on the linuxptp version.
    instance.service === 'synce4l'
      ? `# synce4l instance ${JSON.stringify(instance.name)}, run by ${unitName(instance)}.`
      : `# ${instance.service} instance ${JSON.stringify(instance.name)} for linuxptp ${host.linuxptpVersion}, run by ${unitName(instance)}.`,
  ];
  for (const section of sections) {
    lines.push(`[${section.name}]`);
    const width = Math.max(0, ...section.entries.map(([name]) => name.length)) + 1;
    for (const [name, value] of section.entries) lines.push(`${name.padEnd(width)}${value}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The daemon's command line: everything else is in its configuration file. */
function execStart(instance: PtpInstance): string {
  const config = `/${configPath(instance)}`;
  switch (instance.service) {
    case 'ptp4l':
      return `/usr/sbin/ptp4l -f ${config}`;
    case 'phc2sys':
      // -a follows the ptp4l port states, -r also steers CLOCK_REALTIME from the PHC that is in sync.
      return `/usr/sbin/phc2sys -f ${config} -a -r`;
    case 'ts2phc':
      // validate.ts makes sure the instance has a GNSS (NMEA) source; its 1PPS feeds the ports' PHCs.
      return `/usr/sbin/ts2phc -f ${config} -s nmea`;
    case 'synce4l':
      return `/usr/sbin/synce4l -f ${config}`;
    case 'clock':
      assert.fail('clock instances run no daemon');
  }
}

function unitFile(context: InstanceContext): string {
  const { site, host, instance } = context;
  const after = ['network-online.target'];
  if (instance.service === 'phc2sys') {
    const sourcing = resolvePhc2sysSources(site, host, instance);
    if (!('problem' in sourcing)) {
      after.push(...new Set(sourcing.sources.map((source) => unitName(source.ptp4l))));
    }
  }
  return [
    `# Written by murm for host ${JSON.stringify(host.hostname)}; murm rewrites it on every apply, do not edit.`,
    '[Unit]',
    `Description=${instance.service} instance ${instance.name} (murm)`,
    `Documentation=man:${instance.service}(8)`,
    `Wants=${after.join(' ')}`,
    `After=${after.join(' ')}`,
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${execStart(instance)}`,
    'Restart=on-failure',
    'RestartSec=5s',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
