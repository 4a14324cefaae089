import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AppError } from '../core/errors.js';
import { parsePmcBlocks, parsePmcSnapshot, readPortStatus } from './pmc.js';

/** Outputs recorded from linuxptp 3.1.1 daemons in two network namespaces (see test/ptp.linuxptp.test.ts). */
const FIXTURES = join(import.meta.dirname, '../../test/fixtures/pmc');

function fixture(name: string): string {
  return readFileSync(join(FIXTURES, `${name}.txt`), 'utf8');
}

function assertUnavailable(run: () => unknown, reason: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof AppError);
    assert.equal(error.code, 'unavailable');
    assert.equal(error.details.reason, reason);
    return true;
  });
}

describe('parsePmcSnapshot', () => {
  it('reads a locked slave', () => {
    const snapshot = parsePmcSnapshot(fixture('slave-locked'));
    assert.deepEqual(snapshot.ports, [
      { portIdentity: '06e23b.fffe.50e259-1', portNumber: 1, portState: 'SLAVE' },
    ]);
    assert.deepEqual(snapshot.timeStatus, {
      masterOffsetNs: 340,
      ingressTimeNs: 1795459542355960102n,
      isGmPresent: true,
      gmIdentity: 'eeb0fc.fffe.2c461c',
    });
    assert.deepEqual(snapshot.parent, {
      parentPortIdentity: 'eeb0fc.fffe.2c461c-1',
      grandmasterIdentity: 'eeb0fc.fffe.2c461c',
      gmClockClass: 6,
      gmClockAccuracy: 0x21,
      gmOffsetScaledLogVariance: 0x4e5d,
      grandmasterPriority1: 10,
      grandmasterPriority2: 10,
    });
    assert.deepEqual(snapshot.grandmasterSettings, {
      clockClass: 255,
      clockAccuracy: 0xfe,
      offsetScaledLogVariance: 0xffff,
      currentUtcOffset: 37,
      isCurrentUtcOffsetValid: false,
      isPtpTimescale: false,
      isTimeTraceable: false,
      isFrequencyTraceable: false,
      timeSource: 0xa0,
    });
    assert.deepEqual(snapshot.defaultDataSet, {
      clockIdentity: '06e23b.fffe.50e259',
      clockClass: 255,
      isSlaveOnly: true,
      numberPorts: 1,
      domainNumber: 24,
    });
  });

  it('reads the grandmaster as MASTER with itself as parent', () => {
    const snapshot = parsePmcSnapshot(fixture('gm-master'));
    assert.equal(snapshot.ports[0]?.portState, 'MASTER');
    assert.equal(snapshot.timeStatus.isGmPresent, false);
    assert.equal(snapshot.timeStatus.gmIdentity, snapshot.defaultDataSet.clockIdentity);
    assert.equal(snapshot.parent.parentPortIdentity, 'eeb0fc.fffe.2c461c-0');
    assert.equal(snapshot.grandmasterSettings.clockClass, 6);
  });

  it('reads UNCALIBRATED before the servo reports lock', () => {
    const snapshot = parsePmcSnapshot(fixture('slave-uncalibrated'));
    assert.equal(snapshot.ports[0]?.portState, 'UNCALIBRATED');
    assert.equal(snapshot.timeStatus.isGmPresent, true);
  });

  it('follows a grandmaster degraded to class 248', () => {
    const snapshot = parsePmcSnapshot(fixture('slave-gm-class248'));
    assert.equal(snapshot.ports[0]?.portState, 'SLAVE');
    assert.equal(snapshot.parent.gmClockClass, 248);
    assert.equal(snapshot.timeStatus.masterOffsetNs, -550);
  });

  it('shows a lost grandmaster as LISTENING with stale gmPresent and no ingress time', () => {
    const snapshot = parsePmcSnapshot(fixture('slave-gm-lost'));
    assert.equal(snapshot.ports[0]?.portState, 'LISTENING');
    assert.equal(snapshot.timeStatus.isGmPresent, true);
    assert.equal(snapshot.timeStatus.ingressTimeNs, 0n);
  });

  it('reads every port of a boundary clock', () => {
    const twoPorts = fixture('slave-locked').replace(
      '\t06e23b.fffe.50e259-0 seq 1 RESPONSE MANAGEMENT TIME_STATUS_NP ',
      [
        '\t06e23b.fffe.50e259-2 seq 0 RESPONSE MANAGEMENT PORT_DATA_SET ',
        '\t\tportIdentity            06e23b.fffe.50e259-2',
        '\t\tportState               MASTER',
        '\t06e23b.fffe.50e259-0 seq 1 RESPONSE MANAGEMENT TIME_STATUS_NP ',
      ].join('\n'),
    );
    assert.deepEqual(
      parsePmcSnapshot(twoPorts).ports.map((port) => [port.portNumber, port.portState]),
      [
        [1, 'SLAVE'],
        [2, 'MASTER'],
      ],
    );
  });

  it('fails with no_response when the socket is missing or the domain is wrong (pmc still exits 0)', () => {
    assertUnavailable(() => parsePmcSnapshot(fixture('no-socket')), 'no_response');
    assertUnavailable(() => parsePmcSnapshot(fixture('wrong-domain')), 'no_response');
    assertUnavailable(() => parsePmcSnapshot(''), 'no_response');
  });

  it('fails with partial_response when output stops after the first reply', () => {
    const text = fixture('slave-locked');
    const cut = text.slice(0, text.indexOf('sending: GET PARENT_DATA_SET'));
    assert.throws(
      () => parsePmcSnapshot(cut),
      (error: unknown) =>
        error instanceof AppError &&
        error.details.reason === 'partial_response' &&
        JSON.stringify(error.details.missing) ===
          JSON.stringify([
            'TIME_STATUS_NP',
            'PARENT_DATA_SET',
            'GRANDMASTER_SETTINGS_NP',
            'DEFAULT_DATA_SET',
          ]),
    );
  });

  it('fails with malformed on a garbled value or a field cut off by garbage', () => {
    const locked = fixture('slave-locked');
    assertUnavailable(
      () =>
        parsePmcSnapshot(locked.replace('master_offset              340', 'master_offset              3x0')),
      'malformed',
    );
    assertUnavailable(() => parsePmcSnapshot(locked.replace('SLAVE', 'SLAVISH')), 'malformed');
    assertUnavailable(
      () => parsePmcSnapshot(locked.replace('\t\tgmPresent ', '%$#@ garbage\n\t\tgmPresent ')),
      'malformed',
    );
  });

  it('ignores garbage between replies and the stderr of an unknown command', () => {
    const noisy = `bad command: GET FOO_BAR\n\u0000\u0007junk\n${fixture('slave-locked')}\nmore junk`;
    assert.equal(parsePmcSnapshot(noisy).ports[0]?.portState, 'SLAVE');
    assert.deepEqual(parsePmcBlocks(fixture('bad-command')), []);
  });
});

describe('parsePmcBlocks', () => {
  it('reads pushed port states after SUBSCRIBE_EVENTS_NP', () => {
    const blocks = parsePmcBlocks(fixture('subscribe'));
    assert.deepEqual(
      blocks.map((block) => [block.managementId, block.seq]),
      [
        ['SUBSCRIBE_EVENTS_NP', 0],
        ['PORT_DATA_SET', 0],
        ['PORT_DATA_SET', 1],
        ['PORT_DATA_SET', 2],
      ],
    );
    assert.equal(blocks[0]?.fields.get('NOTIFY_PORT_STATE'), 'on');
    assert.deepEqual(
      blocks.slice(1).map((block) => readPortStatus(block).portState),
      ['LISTENING', 'UNCALIBRATED', 'SLAVE'],
    );
  });

  it('reads the echo of SET GRANDMASTER_SETTINGS_NP', () => {
    const [block] = parsePmcBlocks(fixture('gm-set-class248'));
    assert.equal(block?.managementId, 'GRANDMASTER_SETTINGS_NP');
    assert.equal(block?.fields.get('clockClass'), '248');
  });

  it('keeps values with spaces and empty values', () => {
    const blocks = parsePmcBlocks(
      [
        '\t06e23b.fffe.50e259-1 seq 0 RESPONSE MANAGEMENT PORT_PROPERTIES_NP ',
        '\t\tphysicalLayerProtocol IEEE 802.3',
        '\t\tuserDescription',
        '\t06e23b.fffe.50e259-0 seq 1 RESPONSE MANAGEMENT',
      ].join('\n'),
    );
    assert.equal(blocks[0]?.fields.get('physicalLayerProtocol'), 'IEEE 802.3');
    assert.equal(blocks[0]?.fields.get('userDescription'), '');
    assert.equal(blocks[1]?.managementId, '');
  });
});
