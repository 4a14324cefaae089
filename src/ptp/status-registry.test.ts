import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FakeClock } from '../../test/helpers/clock.js';
import type { NodeSyncStatus } from './oran/status-source.js';
import { ptpHostMonitoring } from './status-directives.js';
import { PtpStatusRegistry } from './status-registry.js';
import type { PtpSyncStatus, SyncState } from './sync-state.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');

function status(state: SyncState, overrides: Partial<PtpSyncStatus> = {}): PtpSyncStatus {
  const isLocked = state === 'LOCKED';
  return {
    state,
    since: T0,
    observedAt: T0,
    isRunning: true,
    source: isLocked ? 'ptp' : 'none',
    clockClass: isLocked ? 6 : state === 'HOLDOVER' ? 7 : 248,
    offsetNs: isLocked ? 12 : undefined,
    gmIdentity: isLocked ? 'aa.bb' : undefined,
    alarms: isLocked
      ? []
      : [
          {
            alarmId: '100.119',
            entityTypeId: 'host',
            entityInstanceId: 'host=w0.instance=ptp1.ptp=no-lock',
            severity: 'major',
            reasonText: 'not locked',
          },
        ],
    ...overrides,
  };
}

function recorder(registry: PtpStatusRegistry) {
  const calls: { node: string; state: SyncState; previous: SyncState | undefined }[] = [];
  const stop = registry.onChange((next: NodeSyncStatus, previous: NodeSyncStatus | undefined) => {
    calls.push({ node: next.node, state: next.ptp.state, previous: previous?.ptp.state });
  });
  return { calls, stop };
}

describe('PtpStatusRegistry', () => {
  test('ignores reports for hosts and instances the configuration does not name', () => {
    const registry = new PtpStatusRegistry();
    assert.equal(registry.report('w0', 'ptp1', status('LOCKED')), false);
    registry.setInstances('w0', { instances: ['ptp1'], primary: 'ptp1' });
    assert.equal(registry.report('w0', 'ptp9', status('LOCKED')), false);
    assert.deepEqual(registry.list(), []);
    assert.equal(registry.current('w0'), undefined);
  });

  test('calls listeners in order, once per change of the primary instance', () => {
    const clock = new FakeClock();
    const registry = new PtpStatusRegistry({ clock });
    const { calls } = recorder(registry);
    const second: string[] = [];
    registry.onChange((next) => second.push(next.ptp.state));
    registry.setInstances('w0', { instances: ['ptp1', 'ptp2'], primary: 'ptp1' });

    registry.report('w0', 'ptp1', status('FREERUN'));
    registry.report('w0', 'ptp1', status('LOCKED'));
    clock.advance(5);
    // The same status again (a reconnect) and an offset-only change are no change…
    registry.report('w0', 'ptp1', status('LOCKED'));
    registry.report('w0', 'ptp1', status('LOCKED', { offsetNs: -40 }));
    // …nor is anything about a secondary instance.
    registry.report('w0', 'ptp2', status('FREERUN'));
    registry.report('w0', 'ptp1', status('HOLDOVER'));
    registry.report('w0', 'ptp1', status('FREERUN'));

    assert.deepEqual(calls, [
      { node: 'w0', state: 'FREERUN', previous: undefined },
      { node: 'w0', state: 'LOCKED', previous: 'FREERUN' },
      { node: 'w0', state: 'HOLDOVER', previous: 'LOCKED' },
      { node: 'w0', state: 'FREERUN', previous: 'HOLDOVER' },
    ]);
    assert.deepEqual(second, ['FREERUN', 'LOCKED', 'HOLDOVER', 'FREERUN']);
    const [first, other] = registry.instances('w0');
    assert.equal(first?.isPrimary, true);
    assert.equal(first?.status?.state, 'FREERUN');
    assert.deepEqual(first?.reportedAt, new Date(T0.getTime() + 5000));
    assert.equal(other?.isPrimary, false);
    assert.equal(other?.status?.state, 'FREERUN');
  });

  test('keeps the latest report even when it is not a change', () => {
    const registry = new PtpStatusRegistry();
    registry.setInstances('w0', { instances: ['ptp1'], primary: 'ptp1' });
    registry.report('w0', 'ptp1', status('LOCKED'));
    registry.report('w0', 'ptp1', status('LOCKED', { offsetNs: -40 }), {
      ports: [{ portNumber: 1, portState: 'SLAVE' }],
    });
    assert.equal(registry.current('w0')?.ptp.offsetNs, -40);
    assert.deepEqual(registry.instances('w0')[0]?.ports, [{ portNumber: 1, portState: 'SLAVE' }]);
  });

  test('drops the statuses of removed instances and reports a new primary as a change', () => {
    const registry = new PtpStatusRegistry();
    const { calls } = recorder(registry);
    registry.setInstances('w0', { instances: ['ptp1', 'ptp2'], primary: 'ptp1' });
    registry.report('w0', 'ptp1', status('LOCKED'));
    registry.report('w0', 'ptp2', status('HOLDOVER'));

    assert.deepEqual(registry.setInstances('w0', { instances: ['ptp2', 'ptp3'], primary: 'ptp2' }), ['ptp1']);
    assert.deepEqual(calls.at(-1), { node: 'w0', state: 'HOLDOVER', previous: 'LOCKED' });
    assert.deepEqual(
      registry.instances('w0').map((entry) => [entry.instance, entry.status?.state]),
      [
        ['ptp2', 'HOLDOVER'],
        ['ptp3', undefined],
      ],
    );
    assert.equal(registry.report('w0', 'ptp1', status('LOCKED')), false);

    assert.deepEqual(registry.setInstances('w0', { instances: [], primary: undefined }), ['ptp2', 'ptp3']);
    assert.deepEqual(registry.instances('w0'), []);
    assert.deepEqual(registry.list(), []);
    assert.equal(calls.length, 2);
  });

  test("fills the node's osClock from its first phc2sys instance and announces its changes", () => {
    const registry = new PtpStatusRegistry();
    const changes: string[] = [];
    registry.onChange((next, previous) =>
      changes.push(`${previous?.osClock ?? '-'}>${next.ptp.state}/${next.osClock ?? '-'}`),
    );
    registry.setInstances('w0', {
      instances: ['ptp1', 'phc1', 'phc2'],
      primary: 'ptp1',
      phc2sys: ['phc1', 'phc2'],
    });
    const osClock = { sourceInstance: 'ptp1', phcInterface: 'eno1', phcOffsetNs: -37_000_000_010 };
    // Before the primary ptp4l instance reported there is no node status to publish.
    registry.report('w0', 'phc1', status('LOCKED'), { osClock });
    assert.equal(registry.current('w0'), undefined);
    registry.report('w0', 'ptp1', status('LOCKED'));
    assert.equal(registry.current('w0')?.osClock, 'LOCKED');
    registry.report('w0', 'phc1', status('LOCKED', { offsetNs: -3 }), { osClock });
    registry.report('w0', 'phc2', status('FREERUN'));
    registry.report('w0', 'phc1', status('HOLDOVER'));
    assert.deepEqual(changes, ['->LOCKED/LOCKED', 'LOCKED>LOCKED/HOLDOVER']);
    const [, phc1, phc2] = registry.instances('w0');
    assert.equal(phc1?.service, 'phc2sys');
    assert.equal(phc1?.osClock, undefined, 'the HOLDOVER report carried no details');
    assert.equal(phc2?.status?.state, 'FREERUN');
    assert.equal(registry.isPhc2sys('w0', 'phc2'), true);
    assert.equal(registry.isPhc2sys('w0', 'ptp1'), false);
    // Without a phc2sys instance the node has no os clock any more: a change.
    registry.setInstances('w0', { instances: ['ptp1'], primary: 'ptp1', phc2sys: [] });
    assert.equal(registry.current('w0')?.osClock, undefined);
    assert.deepEqual(changes.at(-1), 'HOLDOVER>LOCKED/-');
  });

  test('lists every node with a primary status; removeHost forgets one; a removed listener is not called', () => {
    const registry = new PtpStatusRegistry();
    const { calls, stop } = recorder(registry);
    registry.setInstances('w0', { instances: ['ptp1'], primary: 'ptp1' });
    registry.setInstances('w1', { instances: ['ptp1'], primary: 'ptp1' });
    registry.report('w0', 'ptp1', status('LOCKED'));
    registry.report('w1', 'ptp1', status('FREERUN'));
    assert.deepEqual(
      registry.list().map((node) => [node.node, node.ptp.state]),
      [
        ['w0', 'LOCKED'],
        ['w1', 'FREERUN'],
      ],
    );
    stop();
    registry.report('w0', 'ptp1', status('HOLDOVER'));
    assert.equal(calls.length, 2);
    assert.deepEqual(registry.removeHost('w1'), ['ptp1']);
    assert.deepEqual(
      registry.list().map((node) => node.node),
      ['w0'],
    );
  });
});

describe('ptpHostMonitoring', () => {
  const file = (path: string, content = '') => ({ path, mode: 0o644, content });
  const conf = (global: string[], ports: Record<string, string[]> = { eno1: [] }) =>
    [
      '# Written by murm',
      '[global]',
      ...global,
      ...Object.entries(ports).flatMap(([name, lines]) => [`[${name}]`, ...lines]),
    ].join('\n');

  test('monitors every ptp4l instance at its uds_address and domain, the first receiver being primary', () => {
    const monitoring = ptpHostMonitoring([
      file(
        'etc/linuxptp/gm.conf',
        conf(['domainNumber      24', 'serverOnly 1', 'uds_address /var/run/ptp4l-gm']),
      ),
      file('etc/linuxptp/bc.conf', conf(['uds_address       /var/run/ptp4l-bc'])),
      file('etc/linuxptp/out.conf', conf(['uds_address /var/run/ptp4l-out'], { eno2: ['masterOnly 1'] })),
      file('etc/linuxptp/sync.conf', conf(['uds_address /var/run/ptp4l-bc'])),
      file('etc/systemd/system/ptp4l@gm.service'),
      file('etc/systemd/system/ptp4l@bc.service'),
      file('etc/systemd/system/ptp4l@out.service'),
      file('etc/systemd/system/phc2sys@sync.service'),
    ]);
    assert.deepEqual(monitoring.monitors, [
      { kind: 'ptp4l', instance: 'gm', udsAddress: '/var/run/ptp4l-gm', domainNumber: 24 },
      { kind: 'ptp4l', instance: 'bc', udsAddress: '/var/run/ptp4l-bc', domainNumber: 0 },
      { kind: 'ptp4l', instance: 'out', udsAddress: '/var/run/ptp4l-out', domainNumber: 0 },
      // Stock phc2sys follows the ptp4l instance owning its uds_address and reads that one's ports' PHC.
      {
        kind: 'phc2sys',
        instance: 'sync',
        configPath: '/etc/linuxptp/sync.conf',
        sources: [{ ptp4l: 'bc', interfaces: ['eno1'] }],
      },
    ]);
    assert.deepEqual(monitoring.host, {
      instances: ['gm', 'bc', 'out', 'sync'],
      primary: 'bc',
      phc2sys: ['sync'],
    });
  });

  test('gives a failover phc2sys its sources by ha_priority, one per ptp4l instance, known sockets only', () => {
    const monitoring = ptpHostMonitoring([
      file('etc/linuxptp/nic1.conf', conf(['uds_address /var/run/ptp4l-nic1'], { ens1f0: [], ens1f1: [] })),
      file('etc/linuxptp/nic2.conf', conf(['uds_address /var/run/ptp4l-nic2'], { ens2f0: [] })),
      file(
        'etc/linuxptp/phc.conf',
        conf(['ha_enabled 1', 'message_tag phc'], {
          ens1f0: ['ha_priority 10', 'ha_uds_address /var/run/ptp4l-nic1', 'ha_domainNumber 0'],
          ens2f0: ['ha_priority 100', 'ha_uds_address /var/run/ptp4l-nic2', 'ha_domainNumber 0'],
          ens1f1: ['ha_uds_address /var/run/ptp4l-nic1', 'ha_domainNumber 0'],
          ens3f0: ['ha_priority 200', 'ha_uds_address /var/run/ptp4l-gone'],
        }),
      ),
      file('etc/systemd/system/phc2sys@phc.service'),
      file('etc/systemd/system/ptp4l@nic1.service'),
      file('etc/systemd/system/ptp4l@nic2.service'),
    ]);
    assert.deepEqual(monitoring.monitors.at(-1), {
      kind: 'phc2sys',
      instance: 'phc',
      configPath: '/etc/linuxptp/phc.conf',
      sources: [
        { ptp4l: 'nic2', interfaces: ['ens2f0'] },
        { ptp4l: 'nic1', interfaces: ['ens1f0', 'ens1f1'] },
      ],
    });
    assert.deepEqual(monitoring.host.instances, ['nic1', 'nic2', 'phc']);
  });

  test("follows the renderer's dual-NIC boundary clock: failover phc2sys over both NICs' ptp4l", () => {
    const root = fileURLToPath(new URL('../../test/golden/ptp/dual-nic-bc/', import.meta.url));
    const files = (readdirSync(root, { recursive: true }) as string[])
      .filter((name) => name.endsWith('.conf') || name.endsWith('.service'))
      .sort()
      .map((name) => file(name, readFileSync(`${root}${name}`, 'utf8')));
    const monitoring = ptpHostMonitoring(files);
    assert.deepEqual(monitoring.monitors.at(-1), {
      kind: 'phc2sys',
      instance: 'phc-ha',
      configPath: '/etc/linuxptp/phc-ha.conf',
      sources: [
        { ptp4l: 'ptp-nic1', interfaces: ['ens1f0'] },
        { ptp4l: 'ptp-nic2', interfaces: ['ens2f0'] },
      ],
    });
    assert.deepEqual(monitoring.host, {
      instances: ['ptp-nic1', 'ptp-nic2', 'phc-ha'],
      primary: 'ptp-nic1',
      phc2sys: ['phc-ha'],
    });
  });

  test('takes the first instance of a host whose instances only serve time, and none without ptp4l', () => {
    const gm = ptpHostMonitoring([
      file('etc/linuxptp/gm.conf', conf(['uds_address /var/run/ptp4l-gm'], { eno1: ['masterOnly 1'] })),
      file('etc/systemd/system/ptp4l@gm.service'),
    ]);
    assert.equal(gm.host.primary, 'gm');
    assert.deepEqual(ptpHostMonitoring([]), {
      monitors: [],
      host: { instances: [], primary: undefined, phc2sys: [] },
    });
  });
});
