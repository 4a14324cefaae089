import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FakeClock } from '../../test/helpers/clock.js';
import { type PmcSnapshot, parsePmcSnapshot } from './pmc.js';
import {
  DEFAULT_SYNC_OPTIONS,
  initialSyncStatus,
  nextSyncStatus,
  type PtpSyncStatus,
  type SyncState,
  type SyncStateOptions,
} from './sync-state.js';

const FIXTURES = join(import.meta.dirname, '../../test/fixtures/pmc');
const OPTIONS: SyncStateOptions = { ...DEFAULT_SYNC_OPTIONS, hostname: 'controller-0', instance: 'ptp1' };
const ENTITY = 'host=controller-0.instance=ptp1.ptp';

function recorded(name: string): PmcSnapshot {
  return parsePmcSnapshot(readFileSync(join(FIXTURES, `${name}.txt`), 'utf8'));
}

/** The recorded locked slave with its offset and grandmaster class replaced. */
function lockedSlave(overrides: { offsetNs?: number; gmClockClass?: number } = {}): PmcSnapshot {
  const snapshot = recorded('slave-locked');
  return {
    ...snapshot,
    timeStatus: {
      ...snapshot.timeStatus,
      masterOffsetNs: overrides.offsetNs ?? snapshot.timeStatus.masterOffsetNs,
    },
    parent: { ...snapshot.parent, gmClockClass: overrides.gmClockClass ?? snapshot.parent.gmClockClass },
  };
}

/** The recorded grandmaster, advertising `clockClass`. */
function grandmaster(clockClass: number): PmcSnapshot {
  const snapshot = recorded('gm-master');
  return { ...snapshot, grandmasterSettings: { ...snapshot.grandmasterSettings, clockClass } };
}

/** One step of a scenario: seconds to move the clock, then what pmc returned (undefined: no answer). */
type Step = [advanceSeconds: number, snapshot: PmcSnapshot | undefined];

function run(steps: Step[], options: SyncStateOptions = OPTIONS): PtpSyncStatus[] {
  const clock = new FakeClock();
  let status = initialSyncStatus(clock.now());
  return steps.map(([seconds, snapshot]) => {
    clock.advance(seconds);
    status = nextSyncStatus(status, { at: clock.now(), snapshot }, options);
    return status;
  });
}

function states(statuses: PtpSyncStatus[]): SyncState[] {
  return statuses.map((status) => status.state);
}

function alarmIds(status: PtpSyncStatus | undefined): string[] {
  return (status?.alarms ?? []).map((alarm) => `${alarm.entityInstanceId} ${alarm.severity}`);
}

describe('nextSyncStatus', () => {
  const lost = recorded('slave-gm-lost');
  const cases: { name: string; steps: Step[]; expected: SyncState[]; options?: SyncStateOptions }[] = [
    {
      name: 'locks when a port is SLAVE within tolerance',
      steps: [[1, lockedSlave()]],
      expected: ['LOCKED'],
    },
    {
      name: 'stays FREERUN while UNCALIBRATED',
      steps: [[1, recorded('slave-uncalibrated')]],
      expected: ['FREERUN'],
    },
    {
      name: 'enters HOLDOVER on losing the grandmaster and FREERUN when holdover runs out',
      steps: [
        [1, lockedSlave()],
        [1, lost],
        [29, lost],
        [1, lost],
      ],
      expected: ['LOCKED', 'HOLDOVER', 'HOLDOVER', 'FREERUN'],
    },
    {
      name: 'returns from HOLDOVER to LOCKED when the grandmaster comes back',
      steps: [
        [1, lockedSlave()],
        [1, undefined],
        [5, lockedSlave()],
      ],
      expected: ['LOCKED', 'HOLDOVER', 'LOCKED'],
    },
    {
      name: 'returns from FREERUN to LOCKED',
      steps: [
        [1, lockedSlave()],
        [1, lost],
        [40, lost],
        [1, lockedSlave()],
      ],
      expected: ['LOCKED', 'HOLDOVER', 'FREERUN', 'LOCKED'],
    },
    {
      name: 'goes straight to FREERUN with a holdover of 0 s',
      steps: [
        [1, lockedSlave()],
        [1, lost],
      ],
      expected: ['LOCKED', 'FREERUN'],
      options: { ...OPTIONS, holdoverSeconds: 0 },
    },
    {
      name: 'leaves LOCKED when the offset exceeds the major tolerance',
      steps: [
        [1, lockedSlave()],
        [1, lockedSlave({ offsetNs: -1_000_001 })],
      ],
      expected: ['LOCKED', 'HOLDOVER'],
    },
    {
      name: 'stays LOCKED with an offset beyond the minor tolerance',
      steps: [[1, lockedSlave({ offsetNs: 5_000 })]],
      expected: ['LOCKED'],
    },
    {
      name: 'leaves LOCKED when the grandmaster degrades to class 248',
      steps: [
        [1, lockedSlave()],
        [1, recorded('slave-gm-class248')],
      ],
      expected: ['LOCKED', 'HOLDOVER'],
    },
    {
      name: 'counts holdover class 7 from the grandmaster as locked',
      steps: [[1, lockedSlave({ gmClockClass: 7 })]],
      expected: ['LOCKED'],
    },
    { name: 'locks a grandmaster advertising class 6', steps: [[1, grandmaster(6)]], expected: ['LOCKED'] },
    {
      name: 'holds over a grandmaster whose own source degrades to class 248',
      steps: [
        [1, grandmaster(6)],
        [1, grandmaster(248)],
      ],
      expected: ['LOCKED', 'HOLDOVER'],
    },
  ];
  for (const { name, steps, expected, options } of cases) {
    it(name, () => {
      assert.deepEqual(states(run(steps, options)), expected);
    });
  }

  it('keeps the time HOLDOVER began across observations', () => {
    const [, first, second] = run([
      [1, lockedSlave()],
      [1, undefined],
      [10, undefined],
    ]);
    assert.deepEqual(first?.since, new Date('2026-01-01T00:00:02.000Z'));
    assert.deepEqual(second?.since, first?.since);
  });

  it('reports the grandmaster class while LOCKED, 7 in HOLDOVER and 248 in FREERUN', () => {
    const statuses = run([
      [1, lockedSlave()],
      [1, recorded('slave-gm-lost')],
      [30, recorded('slave-gm-lost')],
    ]);
    assert.deepEqual(
      statuses.map((status) => status.clockClass),
      [6, 7, 248],
    );
    assert.equal(statuses[0]?.offsetNs, 340);
    assert.equal(statuses[0]?.gmIdentity, 'eeb0fc.fffe.2c461c');
  });
});

describe('100.119 alarms', () => {
  it('raises none while LOCKED within tolerance', () => {
    assert.deepEqual(alarmIds(run([[1, lockedSlave()]])[0]), []);
  });

  it('raises no-lock major in HOLDOVER and FREERUN and clears it on LOCKED', () => {
    const lost = recorded('slave-gm-lost');
    const statuses = run([
      [1, lockedSlave()],
      [1, lost],
      [30, lost],
      [1, lockedSlave()],
    ]);
    assert.deepEqual(statuses.map(alarmIds), [
      [],
      [`${ENTITY}=no-lock major`],
      [`${ENTITY}=no-lock major`],
      [],
    ]);
    assert.match(
      statuses[1]?.alarms[0]?.reasonText ?? '',
      /"ptp1" on "controller-0" is not locked .*HOLDOVER/,
    );
  });

  it('raises out-of-tolerance minor above 1000 ns and major above 1 ms', () => {
    const statuses = run([
      [1, lockedSlave({ offsetNs: 1_000 })],
      [1, lockedSlave({ offsetNs: -1_001 })],
      [1, lockedSlave({ offsetNs: 1_000_001 })],
    ]);
    assert.deepEqual(statuses.map(alarmIds), [
      [],
      [`${ENTITY}=out-of-tolerance minor`],
      [`${ENTITY}=no-lock major`, `${ENTITY}=out-of-tolerance major`],
    ]);
  });

  it('raises only the not-running alarm when ptp4l does not answer', () => {
    const [, status] = run([
      [1, lockedSlave()],
      [1, undefined],
    ]);
    assert.deepEqual(alarmIds(status), [`${ENTITY} major`]);
    assert.equal(status?.isRunning, false);
    assert.deepEqual(status?.alarms[0], {
      alarmId: '100.119',
      entityTypeId: 'host',
      entityInstanceId: ENTITY,
      severity: 'major',
      reasonText: 'PTP instance "ptp1" on "controller-0" is not running; check the ptp4l service and its log',
    });
  });

  it('does not judge the offset of a lost grandmaster', () => {
    const lost = recorded('slave-gm-lost');
    const stale = { ...lost, timeStatus: { ...lost.timeStatus, masterOffsetNs: 9_999_999 } };
    assert.deepEqual(alarmIds(run([[1, stale]])[0]), [`${ENTITY}=no-lock major`]);
  });
});
