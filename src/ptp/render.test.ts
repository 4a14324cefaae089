import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AppError } from '../core/errors.js';
import type { RenderedFile } from '../inventory/agent-protocol.js';
import {
  type LinuxptpVersion,
  type PtpInstance,
  type PtpInterface,
  type PtpService,
  type PtpSite,
  parsePtpParameter,
} from './model.js';
import { findParameter } from './parameters.js';
import { renderPtpHost } from './render.js';

const GOLDEN_ROOT = fileURLToPath(new URL('../../test/golden/ptp/', import.meta.url));
const IS_UPDATING = process.env.UPDATE_GOLDEN === '1';

function instance(name: string, service: PtpService, parameters: string[] = []): PtpInstance {
  return { name, service, parameters: parameters.map(parsePtpParameter) };
}

function ptpInterface(
  name: string,
  owner: string,
  hostInterfaces: Record<string, string[]>,
  parameters: string[] = [],
): PtpInterface {
  return { name, instance: owner, parameters: parameters.map(parsePtpParameter), hostInterfaces };
}

function nics(...names: string[]) {
  return names.map((name) => ({ name }));
}

/** StarlingX's ptp4l defaults for a hardware-timestamping telecom (G.8275.1, L2) clock. */
const TELECOM = [
  'domainNumber=24',
  'dataset_comparison=G.8275.x',
  'G.8275.defaultDS.localPriority=128',
  'network_transport=L2',
  'time_stamping=hardware',
  'tx_timestamp_timeout=20',
  'summary_interval=6',
  'clock_servo=linreg',
  'delay_mechanism=E2E',
];

function ordinaryClockSlave(version: LinuxptpVersion): PtpSite {
  return {
    instances: [
      instance('ptp1', 'ptp4l', [
        'domainNumber=24',
        'slaveOnly=1',
        'time_stamping=hardware',
        'summary_interval=6',
      ]),
      instance('phc1', 'phc2sys', ['clock_servo=linreg']),
    ],
    interfaces: [ptpInterface('ptp1if1', 'ptp1', { 'worker-0': ['eno1'] }, ['logAnnounceInterval=1'])],
    hosts: [
      {
        hostname: 'worker-0',
        linuxptpVersion: version,
        instances: ['ptp1', 'phc1'],
        network: nics('eno1', 'eno2'),
      },
    ],
  };
}

const CASES: Record<string, { site: PtpSite; hostname: string }> = {
  // (a) One NIC port following an upstream master; phc2sys steers the system clock from its PHC.
  'oc-slave': { site: ordinaryClockSlave('3.1'), hostname: 'worker-0' },
  // (a) again on linuxptp 4.x: clientOnly and a per-instance read-only socket.
  'oc-slave-linuxptp4': { site: ordinaryClockSlave('4'), hostname: 'worker-0' },
  // (b) Two NICs, each with its own ptp4l (a slave port upstream, a master port downstream); one
  // phc2sys fails over between them, NIC 1 preferred.
  'dual-nic-bc': {
    hostname: 'controller-0',
    site: {
      instances: [
        instance('ptp-nic1', 'ptp4l', TELECOM),
        instance('ptp-nic2', 'ptp4l', TELECOM),
        instance('phc-ha', 'phc2sys', ['ha_enabled=1', 'clock_servo=linreg']),
      ],
      interfaces: [
        ptpInterface('nic1-up', 'ptp-nic1', { 'controller-0': ['ens1f0'] }),
        ptpInterface('nic1-down', 'ptp-nic1', { 'controller-0': ['ens1f1'] }, ['masterOnly=1']),
        ptpInterface('nic2-up', 'ptp-nic2', { 'controller-0': ['ens2f0'] }),
        ptpInterface('nic2-down', 'ptp-nic2', { 'controller-0': ['ens2f1'] }, ['masterOnly=1']),
        ptpInterface('phc-nic1', 'phc-ha', { 'controller-0': ['ens1f0'] }, ['ha_priority=100']),
        ptpInterface('phc-nic2', 'phc-ha', { 'controller-0': ['ens2f0'] }, ['ha_priority=50']),
      ],
      hosts: [
        {
          hostname: 'controller-0',
          linuxptpVersion: '3.1',
          instances: ['ptp-nic1', 'ptp-nic2', 'phc-ha'],
          network: nics('eno1', 'ens1f0', 'ens1f1', 'ens2f0', 'ens2f1'),
        },
      ],
    },
  },
  // (c) GNSS receiver on the NIC: ts2phc disciplines the PHC from NMEA + 1PPS, ptp4l serves it as a
  // T-GM (clockClass 6, GNSS time source) on master-only ports, phc2sys steers the system clock.
  'gnss-t-gm': {
    hostname: 'controller-0',
    site: {
      instances: [
        instance('ts1', 'ts2phc', [
          'ts2phc.nmea_serialport=/dev/gnss0',
          'ts2phc.pulsewidth=100000000',
          'leapfile=/usr/share/zoneinfo/leap-seconds.list',
        ]),
        instance('tgm', 'ptp4l', [
          ...TELECOM,
          'clockClass=6',
          'clockAccuracy=0x20',
          'offsetScaledLogVariance=0x4E5D',
          'timeSource=0x20',
          'masterOnly=1',
        ]),
        instance('phc1', 'phc2sys', ['clock_servo=linreg']),
        instance('clock1', 'clock'),
      ],
      interfaces: [
        ptpInterface('ts1-pps', 'ts1', { 'controller-0': ['ens1f0'] }, [
          'ts2phc.extts_polarity=rising',
          'ts2phc.extts_correction=0',
        ]),
        ptpInterface('tgm-ports', 'tgm', { 'controller-0': ['ens1f0', 'ens1f1'] }),
        ptpInterface('clock1-pins', 'clock1', { 'controller-0': ['ens1f0'] }, ['sma1=output']),
      ],
      hosts: [
        {
          hostname: 'controller-0',
          linuxptpVersion: '3.1',
          instances: ['ts1', 'tgm', 'phc1', 'clock1'],
          network: nics('ens1f0', 'ens1f1', 'ens1f2', 'ens1f3'),
        },
      ],
    },
  },
  // (d) SyncE recovered on ens1f0 and forwarded on ens1f2 only; PTP (slave) on ens1f0.
  synce: {
    hostname: 'worker-1',
    site: {
      instances: [
        instance('synce1', 'synce4l', [
          'logging_level=6',
          'use_syslog=1',
          'network_option=1',
          'extended_tlv=1',
          'recover_time=60',
        ]),
        instance('ptp1', 'ptp4l', ['domainNumber=24', 'slaveOnly=1', 'network_transport=L2']),
      ],
      interfaces: [
        ptpInterface('synce-up', 'synce1', { 'worker-1': ['ens1f0'] }, ['sync=1', 'rx_heartbeat_msec=500']),
        ptpInterface('synce-down', 'synce1', { 'worker-1': ['ens1f2'] }, [
          'sync=1',
          'tx_heartbeat_msec=1000',
        ]),
        ptpInterface('ptp1if', 'ptp1', { 'worker-1': ['ens1f0'] }),
      ],
      hosts: [
        {
          hostname: 'worker-1',
          linuxptpVersion: '3.1',
          instances: ['synce1', 'ptp1'],
          network: nics('ens1f0', 'ens1f1', 'ens1f2', 'ens1f3'),
        },
      ],
    },
  },
};

/** Every file under `dir`, as `/`-separated paths relative to it. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort();
}

/** `[section]` and `name value` lines of a rendered configuration, comments skipped. */
function parseConfig(content: string): { section: string; name: string; value: string }[] {
  let section = '';
  const entries: { section: string; name: string; value: string }[] = [];
  for (const line of content.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1]) {
      section = header[1];
      continue;
    }
    const [, name = '', value = ''] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    entries.push({ section, name, value });
  }
  return entries;
}

function configsOf(files: RenderedFile[], site: PtpSite) {
  return files.flatMap((file) => {
    const name = /^etc\/linuxptp\/(.+)\.conf$/.exec(file.path)?.[1];
    const owner = site.instances.find((candidate) => candidate.name === name);
    return owner ? [{ file, instance: owner }] : [];
  });
}

describe('renderPtpHost golden files', () => {
  for (const [name, { site, hostname }] of Object.entries(CASES)) {
    it(`renders ${name} as in test/golden/ptp/${name}`, () => {
      const files = renderPtpHost(site, hostname);
      const dir = join(GOLDEN_ROOT, name);
      if (IS_UPDATING) {
        rmSync(dir, { recursive: true, force: true });
        for (const file of files) {
          mkdirSync(dirname(join(dir, file.path)), { recursive: true });
          writeFileSync(join(dir, file.path), file.content);
        }
      }
      assert.deepEqual(
        files.map((file) => file.path),
        listFiles(dir),
        'rendered paths match the golden files (UPDATE_GOLDEN=1 rewrites them)',
      );
      for (const file of files) {
        assert.equal(file.mode, 0o644, file.path);
        assert.equal(file.content, readFileSync(join(dir, file.path), 'utf8'), file.path);
      }
    });
  }
});

describe('renderPtpHost', () => {
  it('writes only parameters the table knows for the host linuxptp version and section', () => {
    for (const [name, { site, hostname }] of Object.entries(CASES)) {
      const version = site.hosts.find((host) => host.hostname === hostname)?.linuxptpVersion ?? '3.1';
      for (const { file, instance } of configsOf(renderPtpHost(site, hostname), site)) {
        for (const entry of parseConfig(file.content)) {
          const spec = findParameter(instance.service, version, entry.name);
          assert.ok(
            spec,
            `${name}: ${file.path} writes "${entry.name}", unknown to ${instance.service} ${version}`,
          );
          const isPortSection = entry.section !== 'global' && !entry.section.startsWith('<');
          assert.equal(
            isPortSection ? spec.scope === 'port' || spec.scope === 'any' : spec.scope !== 'port',
            true,
            `${name}: "${entry.name}" is in section [${entry.section}] of ${file.path}`,
          );
        }
      }
    }
  });

  it('gives every ptp4l instance its own socket and log tag', () => {
    const { site, hostname } = CASES['dual-nic-bc'] as { site: PtpSite; hostname: string };
    const globals = configsOf(renderPtpHost(site, hostname), site)
      .filter(({ instance }) => instance.service === 'ptp4l')
      .map(({ file }) => parseConfig(file.content).filter((entry) => entry.section === 'global'));
    const values = (name: string) => globals.map((entries) => entries.find((e) => e.name === name)?.value);
    assert.deepEqual(values('uds_address'), ['/var/run/ptp4l-ptp-nic1', '/var/run/ptp4l-ptp-nic2']);
    assert.deepEqual(values('message_tag'), ['ptp-nic1', 'ptp-nic2']);
  });

  it('writes slaveOnly as clientOnly and adds uds_ro_address on linuxptp 4', () => {
    const ptp4 = renderPtpHost(ordinaryClockSlave('4'), 'worker-0').find(
      (f) => f.path === 'etc/linuxptp/ptp1.conf',
    );
    const ptp31 = renderPtpHost(ordinaryClockSlave('3.1'), 'worker-0').find(
      (f) => f.path === 'etc/linuxptp/ptp1.conf',
    );
    assert.match(ptp4?.content ?? '', /^clientOnly +1$/m);
    assert.match(ptp4?.content ?? '', /^uds_ro_address +\/var\/run\/ptp4lro-ptp1$/m);
    assert.match(ptp31?.content ?? '', /^slaveOnly +1$/m);
    assert.doesNotMatch(ptp31?.content ?? '', /clientOnly|uds_ro_address/);
  });

  it('refuses an invalid host with every problem in the details', () => {
    const site = ordinaryClockSlave('3.1');
    const broken: PtpSite = { ...site, interfaces: [] };
    assert.throws(
      () => renderPtpHost(broken, 'worker-0'),
      (error: unknown) =>
        error instanceof AppError &&
        error.code === 'invalid_input' &&
        /ptp4l instance "ptp1" has no interfaces on host "worker-0"/.test(error.message) &&
        Array.isArray(error.details.problems),
    );
  });

  it('refuses an unknown host', () => {
    assert.throws(
      () => renderPtpHost(ordinaryClockSlave('3.1'), 'worker-9'),
      (error: unknown) => error instanceof AppError && error.code === 'not_found',
    );
  });
});

const HAS_LINUXPTP_31 = spawnSync('ptp4l', ['-v'], { encoding: 'utf8' }).stdout?.startsWith('3.1') === true;
const NO_LINUXPTP = 'ptp4l 3.1 is not installed (apt-get install linuxptp)';
if (!HAS_LINUXPTP_31 && process.env.CI) throw new Error(`CI is set but ${NO_LINUXPTP}`);
if (!HAS_LINUXPTP_31) console.log(`# skipping real linuxptp checks: ${NO_LINUXPTP}`);

/**
 * `unshare` flags giving the daemons a network namespace of their own, so no NIC of the test machine
 * is ever used: a user namespace too where allowed (then no capability reaches the host's clocks),
 * a plain one as root otherwise; undefined when neither works (containers without the privilege).
 */
const UNSHARE_FLAGS = [['-rn'], ['-n']].find(
  (flags) =>
    spawnSync('unshare', [...flags, 'ip', 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'])
      .status === 0,
);

/** The real linuxptp 3.1 parser: exit 254 means the configuration was rejected (linuxptp.md §8). */
describe('rendered configurations with the real linuxptp 3.1', () => {
  const skip = HAS_LINUXPTP_31 ? false : NO_LINUXPTP;

  it('parses every 3.1 ptp4l, phc2sys and ts2phc file murm renders', { skip }, () => {
    const work = mkdtempSync(join(tmpdir(), 'murm-ptp-'));
    try {
      for (const [name, { site, hostname }] of Object.entries(CASES)) {
        if (site.hosts.find((host) => host.hostname === hostname)?.linuxptpVersion !== '3.1') continue;
        for (const { file, instance } of configsOf(renderPtpHost(site, hostname), site)) {
          const check = parseCheck(instance, file, work);
          if (!check) continue;
          const path = join(work, `${name}-${instance.name}.conf`);
          writeFileSync(path, file.content);
          const command = [check.command, '-f', path, ...check.args];
          const [program = '', ...args] = UNSHARE_FLAGS ? ['unshare', ...UNSHARE_FLAGS, ...command] : command;
          const run = spawnSync(program, args, {
            encoding: 'utf8',
            timeout: 700,
            killSignal: 'SIGKILL',
          });
          const output = `${run.stdout}${run.stderr}`;
          assert.notEqual(run.status, 254, `${name}/${file.path}: ${output}`);
          assert.doesNotMatch(
            output,
            /unknown option|failed to parse|bad value|out of range/,
            `${name}/${file.path}`,
          );
        }
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

/**
 * Starts the rendered ptp4l configurations for real: in a network namespace of their own (see
 * UNSHARE_FLAGS) with a veth pair per port named as in the file, software timestamping (veth has no PHC) and free_running on the command line. Passes when
 * every port reaches LISTENING.
 */
describe('rendered ptp4l configurations started by the real ptp4l 3.1', () => {
  const skip = !HAS_LINUXPTP_31
    ? NO_LINUXPTP
    : UNSHARE_FLAGS
      ? false
      : 'no network namespace can be created here (unshare -n is not permitted)';
  if (skip) console.log(`# skipping ptp4l start checks: ${skip}`);

  for (const [name, { site, hostname }] of Object.entries(CASES)) {
    if (site.hosts.find((host) => host.hostname === hostname)?.linuxptpVersion !== '3.1') continue;
    for (const { file, instance } of configsOf(renderPtpHost(site, hostname), site)) {
      if (instance.service !== 'ptp4l') continue;
      it(`brings up every port of ${name}/${file.path}`, { skip }, async () => {
        const work = mkdtempSync(join(tmpdir(), 'murm-ptp-'));
        try {
          writeFileSync(join(work, 'ptp4l.conf'), file.content);
          // Port sections may be empty, so take them from the headers rather than from the entries.
          const ports = [...file.content.matchAll(/^\[(.+)\]$/gm)]
            .map((match) => match[1] ?? '')
            .filter((section) => section !== 'global');
          const log = await startPtp4l(work, ports);
          const listening = log.match(/port \d+: INITIALIZING to LISTENING on INIT_COMPLETE/g) ?? [];
          // ptp4l also counts its UDS management port (port 0).
          assert.equal(listening.length, ports.length + 1, log);
        } finally {
          rmSync(work, { recursive: true, force: true });
        }
      });
    }
  }
});

/** Runs ptp4l on veths named `ports` until all ports are up or 3 s pass; returns its log. */
function startPtp4l(work: string, ports: string[]): Promise<string> {
  const links = ports.map((port, index) => `ip link add ${port} type veth peer name peer${index}`);
  const ups = [...ports, ...ports.map((_, index) => `peer${index}`), 'lo'].map(
    (link) => `ip link set ${link} up`,
  );
  const ptp4l = `exec ptp4l -f ${work}/ptp4l.conf -m -q --free_running 1 --time_stamping software --uds_address ${work}/ptp4l.sock`;
  const child = spawn(
    'unshare',
    [...(UNSHARE_FLAGS ?? []), 'sh', '-ec', [...links, ...ups, ptp4l].join('\n')],
    {
      stdio: 'pipe',
    },
  );
  let log = '';
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(log);
    };
    const timer = setTimeout(finish, 3000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if ((log.match(/to LISTENING on INIT_COMPLETE/g) ?? []).length > ports.length) finish();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', finish);
  });
}

/**
 * How to run each daemon so it parses the file and then stops on its own or harmlessly: ptp4l with
 * free_running (it never adjusts a clock) and a private socket, stopping at the missing NIC; phc2sys
 * waiting on a socket no ptp4l serves; ts2phc stopping at the missing PHC. StarlingX's failover
 * phc2sys options (ha_*) and synce4l are not part of stock linuxptp and are not run.
 */
function parseCheck(
  instance: PtpInstance,
  file: RenderedFile,
  work: string,
): { command: string; args: string[] } | undefined {
  switch (instance.service) {
    case 'ptp4l':
      return {
        command: 'ptp4l',
        args: ['-m', '-q', '--free_running', '1', '--uds_address', join(work, `${instance.name}.sock`)],
      };
    case 'phc2sys':
      if (/^ha_/m.test(file.content)) return undefined;
      return { command: 'phc2sys', args: ['-a', '-r', '-m', '-q', '-z', join(work, 'no-ptp4l.sock')] };
    case 'ts2phc':
      return { command: 'ts2phc', args: ['-s', 'nmea', '-m', '-q'] };
    default:
      return undefined;
  }
}
