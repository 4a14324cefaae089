import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../test/helpers/clock.js';
import type { Phc2sysMonitorDirective } from '../inventory/agent-protocol.js';
import type { PtpSyncStatus, SyncState } from '../ptp/sync-state.js';
import { OsClockMonitor } from './os-clock-monitor.js';
import type { PhcReader } from './phc-reader.js';

/**
 * Stands in for a PTP hardware clock: a PHC is NIC hardware this machine (and CI) does not have, so
 * only the error path can be run against the real phc_ctl (phc.test.ts).
 */
class FakePhcReader implements PhcReader {
  offsetNs: number | Error = -37_000_000_000;
  readonly reads: string[] = [];

  compare(ifname: string): Promise<number> {
    this.reads.push(ifname);
    return this.offsetNs instanceof Error ? Promise.reject(this.offsetNs) : Promise.resolve(this.offsetNs);
  }
}

const DIRECTIVE: Phc2sysMonitorDirective = {
  kind: 'phc2sys',
  instance: 'phc1',
  configPath: '/etc/linuxptp/phc1.conf',
  sources: [
    { ptp4l: 'nic2', interfaces: ['ens2f0'] },
    { ptp4l: 'nic1', interfaces: ['ens1f0', 'ens1f1'] },
  ],
};

function ptp4l(state: SyncState, clockClass = state === 'LOCKED' ? 6 : 248): PtpSyncStatus {
  const at = new Date('2026-01-01T00:00:00Z');
  return {
    state,
    since: at,
    observedAt: at,
    isRunning: true,
    source: state === 'LOCKED' ? 'ptp' : 'none',
    clockClass,
    offsetNs: 3,
    gmIdentity: state === 'LOCKED' ? '020000.fffe.000001' : undefined,
    alarms: [],
  };
}

function setup() {
  const clock = new FakeClock();
  const phc = new FakePhcReader();
  const sources = new Map<string, PtpSyncStatus>();
  const world = { isRunning: true };
  const monitor = new OsClockMonitor({
    hostname: 'w0',
    directive: DIRECTIVE,
    sourceStatus: (name) => sources.get(name),
    isRunning: async () => world.isRunning,
    phc,
    clock,
    options: { holdoverSeconds: 30 },
  });
  const changes: string[] = [];
  monitor.onChange((status, previous) => changes.push(`${previous.state}>${status.state}`));
  /** Active alarms as `<condition>:<severity>`, the condition being the entity after the instance. */
  const alarms = () =>
    monitor.status.alarms.map(
      (alarm) =>
        `${alarm.entityInstanceId.replace(/^host=w0\.(instance|phc2sys)=phc1\./, '')}:${alarm.severity}`,
    );
  return { clock, phc, sources, world, monitor, changes, alarms };
}

describe('OsClockMonitor', () => {
  test('LOCKED → source lost → HOLDOVER → FREERUN after the holdover → LOCKED again', async () => {
    const { clock, phc, sources, monitor, changes, alarms } = setup();
    sources.set('nic1', ptp4l('LOCKED', 7));
    sources.set('nic2', ptp4l('FREERUN'));
    phc.offsetNs = -37_000_000_400;
    let status = await monitor.poll();
    assert.equal(status.state, 'LOCKED');
    // The first LOCKED source in failover order is in use; its first interface's PHC is read.
    assert.deepEqual(status.osClock, {
      sourceInstance: 'nic1',
      phcInterface: 'ens1f0',
      phcOffsetNs: -37_000_000_400,
    });
    assert.equal(status.offsetNs, 400);
    assert.equal(status.clockClass, 7);
    assert.deepEqual(alarms(), []);

    clock.advance(1);
    sources.set('nic1', ptp4l('HOLDOVER'));
    status = await monitor.poll();
    assert.equal(status.state, 'HOLDOVER');
    assert.equal(status.since.getTime(), clock.now().getTime());
    assert.equal(status.clockClass, 7);
    assert.deepEqual(alarms(), ['phc2sys=no-source-clock:major', 'ptp=no-lock:major']);
    // With no source LOCKED, the first source's PHC is what is read.
    assert.equal(phc.reads.at(-1), 'ens2f0');

    clock.advance(29);
    assert.equal((await monitor.poll()).state, 'HOLDOVER');
    clock.advance(1);
    status = await monitor.poll();
    assert.equal(status.state, 'FREERUN');
    assert.equal(status.clockClass, 248);

    clock.advance(5);
    sources.set('nic2', ptp4l('LOCKED'));
    phc.offsetNs = 37_000_000_100;
    status = await monitor.poll();
    assert.equal(status.state, 'LOCKED');
    assert.equal(status.osClock.sourceInstance, 'nic2');
    assert.equal(phc.reads.at(-1), 'ens2f0');
    assert.deepEqual(alarms(), []);
    assert.deepEqual(changes, ['FREERUN>LOCKED', 'LOCKED>HOLDOVER', 'HOLDOVER>FREERUN', 'FREERUN>LOCKED']);
  });

  test('a PHC off TAI−UTC is out of tolerance and not locked; an unreadable PHC is not locked', async () => {
    const { clock, phc, sources, monitor, alarms } = setup();
    sources.set('nic2', ptp4l('LOCKED'));
    await monitor.poll();
    clock.advance(1);
    phc.offsetNs = -37_000_001_500;
    let status = await monitor.poll();
    assert.equal(status.state, 'HOLDOVER');
    assert.equal(status.offsetNs, 1_500);
    assert.deepEqual(alarms(), ['ptp=no-lock:major', 'ptp=out-of-tolerance:minor']);
    // A PHC left on UTC (no TAI−UTC offset) is 37 s off: major.
    phc.offsetNs = 12;
    await monitor.poll();
    assert.deepEqual(alarms(), ['ptp=no-lock:major', 'ptp=out-of-tolerance:major']);

    phc.offsetNs = new Error('interface ens2f0 does not have a PHC');
    status = await monitor.poll();
    assert.equal(status.state, 'HOLDOVER');
    assert.equal(status.osClock.phcError, 'interface ens2f0 does not have a PHC');
    assert.deepEqual(alarms(), ['ptp=no-lock:major']);
    assert.match(status.alarms[0]?.reasonText ?? '', /PHC of ens2f0 cannot be read: .*does not have a PHC/);
  });

  test('phc2sys not running raises only the process alarm and reads no PHC', async () => {
    const { phc, sources, world, monitor, alarms } = setup();
    sources.set('nic2', ptp4l('LOCKED'));
    world.isRunning = false;
    const status = await monitor.poll();
    assert.equal(status.state, 'FREERUN');
    assert.equal(status.isRunning, false);
    assert.deepEqual(alarms(), ['ptp:major']);
    assert.match(status.alarms[0]?.reasonText ?? '', /phc2sys instance "phc1" on "w0" is not running/);
    assert.deepEqual(phc.reads, []);
    world.isRunning = true;
    assert.equal((await monitor.poll()).state, 'LOCKED');
  });

  test('judges nothing while a followed ptp4l monitor has not reported its first poll', async () => {
    const clock = new FakeClock();
    const phc = new FakePhcReader();
    const pending = new Set(['nic1']);
    const monitor = new OsClockMonitor({
      hostname: 'w0',
      directive: DIRECTIVE,
      sourceStatus: () => undefined,
      isSourcePending: (name) => pending.has(name),
      isRunning: async () => true,
      phc,
      clock,
    });
    const changes: string[] = [];
    monitor.onChange((status) => changes.push(status.state));
    const initial = monitor.status;
    assert.equal(await monitor.poll(), initial);
    assert.deepEqual([changes, phc.reads], [[], []]);
    pending.clear();
    assert.equal((await monitor.poll()).alarms.length, 2);
    assert.deepEqual(changes, ['FREERUN']);
  });

  test('a ptp4l instance that has not reported yet is no source', async () => {
    const { monitor, alarms } = setup();
    const status = await monitor.poll();
    assert.equal(status.state, 'FREERUN');
    assert.equal(status.source, 'none');
    assert.deepEqual(alarms(), ['phc2sys=no-source-clock:major', 'ptp=no-lock:major']);
    assert.match(status.alarms[0]?.reasonText ?? '', /\("nic2", "nic1"\) is LOCKED/);
  });
});
