import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../core/errors.js';
import {
  LINUXPTP_VERSIONS,
  PTP_SERVICES,
  type PtpHost,
  type PtpInstance,
  type PtpInterface,
  type PtpProblemCode,
  type PtpService,
  type PtpSite,
  parsePtpParameter,
} from './model.js';
import { describeBadValue, findParameter } from './parameters.js';
import { assertPtpHostValid, validatePtpSite } from './validate.js';

function instance(name: string, service: PtpService, parameters: string[] = []): PtpInstance {
  return { name, service, parameters: parameters.map(parsePtpParameter) };
}

function ptpIf(
  name: string,
  owner: string,
  ifnames: string[],
  parameters: string[] = [],
  host = 'worker-0',
): PtpInterface {
  return {
    name,
    instance: owner,
    parameters: parameters.map(parsePtpParameter),
    hostInterfaces: { [host]: ifnames },
  };
}

function host(hostname: string, instances: string[], overrides: Partial<PtpHost> = {}): PtpHost {
  return {
    hostname,
    linuxptpVersion: '3.1',
    instances,
    network: [{ name: 'eno1' }, { name: 'eno2' }, { name: 'eno3' }],
    ...overrides,
  };
}

/** A valid ordinary clock: ptp4l on eno1, phc2sys following it through eno1. */
function buildSite(overrides: Partial<PtpSite> = {}): PtpSite {
  return {
    instances: [instance('ptp1', 'ptp4l', ['domainNumber=24', 'slaveOnly=1']), instance('phc1', 'phc2sys')],
    interfaces: [ptpIf('ptp1if', 'ptp1', ['eno1']), ptpIf('phc1if', 'phc1', ['eno1'])],
    hosts: [host('worker-0', ['ptp1', 'phc1'])],
    ...overrides,
  };
}

const base = buildSite();
const withInstances = (...extra: PtpInstance[]) => [...base.instances, ...extra];
const withInterfaces = (...extra: PtpInterface[]) => [...base.interfaces, ...extra];
const withHostInstances = (...extra: string[]) => [host('worker-0', ['ptp1', 'phc1', ...extra])];
const ptp1With = (...parameters: string[]) => [
  instance('ptp1', 'ptp4l', ['domainNumber=24', 'slaveOnly=1', ...parameters]),
  instance('phc1', 'phc2sys'),
];

const CASES: [title: string, site: PtpSite, code: PtpProblemCode, message: RegExp][] = [
  [
    'a name with other characters',
    buildSite({ instances: withInstances(instance('ptp 2!', 'ptp4l')) }),
    'invalid-name',
    /^ptp instance name "ptp 2!" may only contain letters, digits, "-" and "_"/,
  ],
  [
    'an instance named after a packaged file',
    buildSite({ instances: withInstances(instance('timemaster', 'ptp4l')) }),
    'invalid-name',
    /"timemaster" would overwrite \/etc\/linuxptp\/timemaster.conf/,
  ],
  [
    'two instances with one name',
    buildSite({ instances: withInstances(instance('phc1', 'phc2sys')) }),
    'duplicate-name',
    /^ptp instance "phc1" is defined more than once$/,
  ],
  [
    'an interface of a missing instance',
    buildSite({ interfaces: withInterfaces(ptpIf('orphan', 'nope', [])) }),
    'unknown-instance',
    /^ptp interface "orphan" belongs to ptp instance "nope", which does not exist$/,
  ],
  [
    'a host assigned a missing instance',
    buildSite({ hosts: withHostInstances('nope') }),
    'unknown-instance',
    /^host "worker-0" is assigned ptp instance "nope", which does not exist$/,
  ],
  [
    'an interface assigned on an unknown host',
    buildSite({ interfaces: withInterfaces(ptpIf('ptp1if2', 'ptp1', ['eno2'], [], 'worker-9')) }),
    'unknown-host',
    /^ptp interface "ptp1if2" is assigned on host "worker-9", which is not known$/,
  ],
  [
    'a parameter no linuxptp version knows',
    buildSite({ instances: ptp1With('bogus_option=1') }),
    'unknown-parameter',
    /^ptp4l has no parameter "bogus_option" \(in ptp4l instance "ptp1"\)$/,
  ],
  [
    'a linuxptp 4 parameter on a linuxptp 3.1 host',
    buildSite({ instances: ptp1With('clientOnly=1') }),
    'unknown-parameter',
    /^ptp4l \(linuxptp 3.1\) on host "worker-0" has no parameter "clientOnly" \(set on "ptp1"\)$/,
  ],
  [
    'a clock parameter on a port',
    buildSite({
      interfaces: [ptpIf('ptp1if', 'ptp1', ['eno1'], ['priority1=10']), base.interfaces[1] as PtpInterface],
    }),
    'misplaced-parameter',
    /^"priority1" is not a port parameter of ptp4l; set it on ptp instance "ptp1" \(in ptp interface "ptp1if"/,
  ],
  [
    'a port-only parameter on an instance',
    buildSite({
      instances: [base.instances[0] as PtpInstance, instance('phc1', 'phc2sys', ['ha_priority=10'])],
    }),
    'misplaced-parameter',
    /^"ha_priority" is a port parameter of phc2sys; set it on a ptp interface of "phc1", not on the instance$/,
  ],
  [
    'a parameter murm sets itself',
    buildSite({ instances: ptp1With('uds_address=/tmp/ptp') }),
    'reserved-parameter',
    /^"uds_address" of ptp4l instance "ptp1" is set by murm for each instance; remove it$/,
  ],
  [
    'a parameter set twice',
    buildSite({ instances: ptp1With('domainNumber=25') }),
    'duplicate-parameter',
    /^ptp4l instance "ptp1" sets "domainNumber" more than once$/,
  ],
  [
    'an integer out of range',
    buildSite({ instances: ptp1With('priority1=300') }),
    'invalid-value',
    /^"priority1" of ptp4l instance "ptp1" must be an integer 0..255 \(got "300"\)$/,
  ],
  [
    'a value outside an enum',
    buildSite({ instances: ptp1With('network_transport=UDP5') }),
    'invalid-value',
    /^"network_transport" of ptp4l instance "ptp1" must be one of UDPv4, UDPv6, L2 \(got "UDP5"\)$/,
  ],
  [
    'a port value out of range',
    buildSite({
      interfaces: [
        ptpIf('ptp1if', 'ptp1', ['eno1'], ['announceReceiptTimeout=1']),
        base.interfaces[1] as PtpInterface,
      ],
    }),
    'invalid-value',
    /^"announceReceiptTimeout" of ptp interface "ptp1if" \(ptp4l instance "ptp1"\) must be an integer 2..255 \(got "1"\)$/,
  ],
  [
    'a port on an interface the host does not have',
    buildSite({ interfaces: withInterfaces(ptpIf('ptp1if2', 'ptp1', ['eno9'])) }),
    'unknown-host-interface',
    /^ptp interface "ptp1if2" is assigned to "eno9" on host "worker-0", which has no such interface \(it has eno1, eno2, eno3\)$/,
  ],
  [
    'ports of an instance the host does not run',
    buildSite({
      instances: withInstances(instance('ptp2', 'ptp4l')),
      interfaces: withInterfaces(ptpIf('ptp2if', 'ptp2', ['eno2'])),
    }),
    'instance-not-assigned',
    /^ptp interface "ptp2if" has ports on host "worker-0", but its instance "ptp2" is not assigned to the host/,
  ],
  [
    'one host interface in two ptp4l instances',
    buildSite({
      instances: withInstances(instance('ptp2', 'ptp4l')),
      interfaces: withInterfaces(ptpIf('ptp2if', 'ptp2', ['eno1', 'eno2'])),
      hosts: withHostInstances('ptp2'),
    }),
    'interface-conflict',
    /^interface "eno1" of host "worker-0" is a port of ptp4l instances "ptp1" and "ptp2"; a port belongs to one ptp4l instance$/,
  ],
  [
    'a ptp4l instance without ports on its host',
    buildSite({ instances: withInstances(instance('ptp2', 'ptp4l')), hosts: withHostInstances('ptp2') }),
    'no-ports',
    /^ptp4l instance "ptp2" has no interfaces on host "worker-0"; assign a ptp interface of it to the NIC ports/,
  ],
  [
    'a ts2phc instance without a 1PPS input on its host',
    buildSite({
      instances: withInstances(instance('ts1', 'ts2phc', ['ts2phc.nmea_serialport=/dev/gnss0'])),
      hosts: withHostInstances('ts1'),
    }),
    'no-ports',
    /^ts2phc instance "ts1" has no interfaces on host "worker-0"; assign a ptp interface of it to the NIC whose PHC takes the GNSS 1PPS$/,
  ],
  [
    'a synce4l instance without ports on its host',
    buildSite({
      instances: withInstances(instance('synce1', 'synce4l')),
      hosts: withHostInstances('synce1'),
    }),
    'no-ports',
    /^synce4l instance "synce1" has no interfaces on host "worker-0"/,
  ],
  [
    'a ts2phc instance without a GNSS source',
    buildSite({ instances: withInstances(instance('ts1', 'ts2phc', ['ts2phc.pulsewidth=100000000'])) }),
    'no-source',
    /^ts2phc instance "ts1" has no GNSS source; set ts2phc.nmea_serialport/,
  ],
  [
    'phc2sys on a host without ptp4l',
    buildSite({ hosts: [...base.hosts, host('worker-1', ['phc1'])] }),
    'no-source',
    /^phc2sys instance "phc1" on host "worker-1" has no ptp4l instance to follow; assign a ptp4l instance to the host$/,
  ],
  [
    'phc2sys following a port no ptp4l runs on',
    buildSite({ interfaces: [base.interfaces[0] as PtpInterface, ptpIf('phc1if', 'phc1', ['eno2'])] }),
    'no-source',
    /^phc2sys instance "phc1" on host "worker-0" follows "eno2", which is not a port of any ptp4l instance on the host$/,
  ],
  [
    'phc2sys without ports next to two ptp4l instances',
    buildSite({
      instances: withInstances(instance('ptp2', 'ptp4l')),
      interfaces: [base.interfaces[0] as PtpInterface, ptpIf('ptp2if', 'ptp2', ['eno2'])],
      hosts: withHostInstances('ptp2'),
    }),
    'ambiguous-source',
    /^phc2sys instance "phc1" on host "worker-0" could follow ptp4l instances "ptp1", "ptp2"; assign a ptp interface of "phc1"/,
  ],
  [
    'stock phc2sys following two ptp4l instances',
    buildSite({
      instances: withInstances(instance('ptp2', 'ptp4l')),
      interfaces: [
        base.interfaces[0] as PtpInterface,
        ptpIf('ptp2if', 'ptp2', ['eno2']),
        ptpIf('phc1if', 'phc1', ['eno1', 'eno2']),
      ],
      hosts: withHostInstances('ptp2'),
    }),
    'ambiguous-source',
    /^phc2sys instance "phc1" on host "worker-0" follows ptp4l instances "ptp1", "ptp2"; stock phc2sys follows one, so set ha_enabled=1/,
  ],
  [
    'failover phc2sys without ports',
    buildSite({
      instances: [base.instances[0] as PtpInstance, instance('phc1', 'phc2sys', ['ha_enabled=1'])],
      interfaces: [base.interfaces[0] as PtpInterface],
    }),
    'no-source',
    /^phc2sys instance "phc1" on host "worker-0" has ha_enabled=1 but no interfaces/,
  ],
];

describe('validatePtpSite', () => {
  it('finds nothing wrong with the base site', () => {
    assert.deepEqual(validatePtpSite(base), []);
  });

  for (const [title, site, code, message] of CASES) {
    it(`reports ${code} for ${title}`, () => {
      const problems = validatePtpSite(site);
      assert.equal(problems.length, 1, JSON.stringify(problems, null, 2));
      assert.equal(problems[0]?.code, code);
      assert.match(problems[0]?.message ?? '', message);
    });
  }

  it('accepts linuxptp 4 names on a linuxptp 4 host', () => {
    const site = buildSite({
      instances: ptp1With('clientOnly=1'),
      hosts: [host('worker-0', ['ptp1', 'phc1'], { linuxptpVersion: '4' })],
    });
    assert.deepEqual(validatePtpSite(site), []);
  });

  it('skips the interface check while the host has reported no NICs', () => {
    const site = buildSite({ hosts: [host('worker-0', ['ptp1', 'phc1'], { network: undefined })] });
    assert.deepEqual(
      validatePtpSite({
        ...site,
        interfaces: [ptpIf('ptp1if', 'ptp1', ['eno9']), ptpIf('phc1if', 'phc1', ['eno9'])],
      }),
      [],
    );
  });
});

describe('assertPtpHostValid', () => {
  it('passes a valid host', () => {
    assert.doesNotThrow(() => assertPtpHostValid(base, 'worker-0'));
  });

  it('throws the first problem of the host and lists them all', () => {
    const site = buildSite({ instances: ptp1With('priority1=300', 'bogus=1') });
    assert.throws(
      () => assertPtpHostValid(site, 'worker-0'),
      (error: unknown) =>
        error instanceof AppError &&
        error.code === 'invalid_input' &&
        error.message === '"priority1" of ptp4l instance "ptp1" must be an integer 0..255 (got "300")' &&
        (error.details.problems as unknown[]).length === 2,
    );
  });

  it('ignores problems of other hosts and of instances the host does not run', () => {
    const site = buildSite({
      instances: withInstances(instance('ts1', 'ts2phc')),
      hosts: [...base.hosts, host('worker-1', ['phc1'])],
    });
    assert.doesNotThrow(() => assertPtpHostValid(site, 'worker-0'));
    assert.throws(() => assertPtpHostValid(site, 'worker-1'), /on host "worker-1" has no ptp4l instance/);
  });

  it('throws not_found for an unknown host', () => {
    assert.throws(
      () => assertPtpHostValid(base, 'worker-9'),
      (error: unknown) => error instanceof AppError && error.code === 'not_found',
    );
  });
});

describe('parameter table', () => {
  const VALUES: [service: PtpService, name: string, value: string, expected: string | undefined][] = [
    ['ptp4l', 'domainNumber', '127', undefined],
    ['ptp4l', 'domainNumber', '128', 'must be an integer 0..127'],
    ['ptp4l', 'clockAccuracy', '0xFE', undefined],
    ['ptp4l', 'clockAccuracy', '0x100', 'must be an integer 0..255'],
    ['ptp4l', 'logSyncInterval', '-4', undefined],
    ['ptp4l', 'logSyncInterval', '1.5', 'must be an integer -128..127'],
    ['ptp4l', 'slaveOnly', 'yes', 'must be 0 or 1'],
    ['ptp4l', 'step_threshold', '0.0', undefined],
    ['ptp4l', 'step_threshold', '-1', 'must be a number at least 0'],
    ['ptp4l', 'pi_proportional_norm_max', '0', 'must be a number above 0 and at most 1'],
    ['ptp4l', 'time_stamping', 'software', undefined],
    ['ts2phc', 'ts2phc.pulsewidth', '999000001', 'must be an integer 1000000..999000000'],
    ['ts2phc', 'ts2phc.nmea_serialport', '/dev/gnss0', undefined],
  ];
  for (const [service, name, value, expected] of VALUES) {
    it(`says ${expected ?? 'nothing'} about ${service} ${name}=${value}`, () => {
      const spec = findParameter(service, '3.1', name);
      assert.ok(spec);
      assert.equal(describeBadValue(spec, value), expected);
    });
  }

  it('knows clientOnly and uds_ro_address only on linuxptp 4', () => {
    for (const name of ['clientOnly', 'uds_ro_address']) {
      assert.equal(findParameter('ptp4l', '3.1', name), undefined, name);
      assert.ok(findParameter('ptp4l', '4', name), name);
    }
  });

  it('knows the logging options of every daemon on every linuxptp version', () => {
    for (const service of PTP_SERVICES.filter((candidate) => candidate !== 'clock')) {
      for (const version of LINUXPTP_VERSIONS) {
        for (const name of ['logging_level', 'use_syslog', 'verbose', 'message_tag']) {
          assert.ok(findParameter(service, version, name), `${service} ${version} ${name}`);
        }
      }
    }
  });

  it('does not take names from Object.prototype', () => {
    assert.equal(findParameter('ptp4l', '3.1', 'constructor'), undefined);
  });
});

describe('parsePtpParameter', () => {
  it('splits at the first "="', () => {
    assert.deepEqual(parsePtpParameter('recover_clock_enable_cmd=echo a=b'), {
      name: 'recover_clock_enable_cmd',
      value: 'echo a=b',
    });
  });

  for (const text of ['domainNumber', '=24', 'domainNumber=', 'bad name=1']) {
    it(`refuses "${text}"`, () => {
      assert.throws(
        () => parsePtpParameter(text),
        (error: unknown) => error instanceof AppError && error.code === 'invalid_input',
      );
    });
  }
});
