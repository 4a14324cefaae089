import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '../core/errors.js';
import { AlarmCatalog, loadAlarmCatalog } from './catalog.js';
import type { CatalogEntry } from './model.js';

const REQUIRED_IDS = [
  ...[
    '101',
    '103',
    '104',
    '106',
    '107',
    '108',
    '109',
    '110',
    '111',
    '114',
    '118',
    '119',
    '120',
    '121',
    '150',
  ].map((n) => `100.${n}`),
  ...['001', '003', '004', '005', '006', '007', '009', '010', '011', '016', '020', '021', '022'].map(
    (n) => `200.${n}`,
  ),
  '210.001',
  '210.002',
  '250.001',
  '250.003',
  '250.004',
  '260.001',
  '260.002',
  ...['001', '002', '003', '004', '005'].map((n) => `280.${n}`),
  '400.001',
  '400.002',
  '400.005',
  ...['100', '101', '200', '210', '500'].map((n) => `500.${n}`),
  ...['001', '002', '003', '004', '005', '006'].map((n) => `750.${n}`),
  '800.001',
  '850.002',
  ...['001', '004', '005', '006', '007', '008', '009', '010', '011'].map((n) => `900.${n}`),
  ...['020', '021', '022', '023', '024', '231', '701'].map((n) => `900.${n}`),
];

const LOG_IDS = ['200.020', '200.021', '200.022', '500.500'];

function buildEntry(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const entry: CatalogEntry = {
    id: '100.101',
    kind: 'alarm',
    description: 'Platform CPU usage on <hostname> crossed its threshold.',
    entityType: 'host',
    entityInstanceFormat: 'host=<hostname>',
    severities: ['critical', 'major'],
    alarmType: 'operational-violation',
    probableCause: 'threshold-crossed',
    proposedRepairAction: 'Reduce the load.',
    isServiceAffecting: false,
    isSuppressible: true,
    mgmtAffectingSeverity: 'major',
    degradeAffectingSeverity: 'critical',
  };
  return { ...entry, ...overrides };
}

describe('loadAlarmCatalog', () => {
  test('validates the shipped catalog and returns the same instance on every call', () => {
    const catalog = loadAlarmCatalog();
    assert.equal(loadAlarmCatalog(), catalog);
  });

  test('contains every alarm and log id Murmuration raises', () => {
    const catalog = loadAlarmCatalog();
    const missing = REQUIRED_IDS.filter((id) => catalog.find(id) === undefined);
    assert.deepEqual(missing, []);
  });

  test('marks customer logs as kind log and everything else as alarm', () => {
    for (const entry of loadAlarmCatalog().entries()) {
      assert.equal(entry.kind, LOG_IDS.includes(entry.id) ? 'log' : 'alarm', entry.id);
    }
  });

  const spotChecks: Array<[string, Partial<CatalogEntry>]> = [
    [
      '100.101',
      {
        severities: ['critical', 'major'],
        mgmtAffectingSeverity: 'major',
        degradeAffectingSeverity: 'critical',
      },
    ],
    [
      '200.001',
      { severities: ['warning'], mgmtAffectingSeverity: 'warning', degradeAffectingSeverity: 'none' },
    ],
    [
      '280.001',
      {
        severities: ['critical'],
        entityInstanceFormat: 'subcloud=<subcloud>',
        probableCause: 'loss-of-signal',
      },
    ],
    ['500.500', { kind: 'log', severities: ['major'] }],
    [
      '900.701',
      { isServiceAffecting: true, mgmtAffectingSeverity: 'warning', degradeAffectingSeverity: 'major' },
    ],
  ];
  for (const [id, expected] of spotChecks) {
    test(`describes ${id} as the StarlingX catalog does`, () => {
      const entry = loadAlarmCatalog().get(id);
      for (const [field, value] of Object.entries(expected)) {
        assert.deepEqual(entry[field as keyof CatalogEntry], value, `${id} ${field}`);
      }
    });
  }
});

describe('AlarmCatalog.fromJson', () => {
  test('accepts a minimal valid catalog', () => {
    const catalog = AlarmCatalog.fromJson({ entries: [buildEntry()] });
    assert.equal(catalog.get('100.101').probableCause, 'threshold-crossed');
  });

  const { isSuppressible: _omitted, ...withoutSuppressible } = buildEntry();
  const rejections: Array<[string, unknown, RegExp]> = [
    ['a value that is not an object', 'catalog', /"entries" list/],
    ['a catalog without an entries list', { alarms: [] }, /"entries" list/],
    ['an unknown top-level field', { entries: [], version: 1 }, /field "version"/],
    ['an entry that is not an object', { entries: ['100.101'] }, /entry 0 must be an object/],
    [
      'an id without three digits on each side',
      { entries: [buildEntry({ id: '100.1' })] },
      /entry 0 .*field "id"/,
    ],
    ['an id that is not a string', { entries: [buildEntry({ id: 100.101 })] }, /entry 0: field "id"/],
    [
      'a duplicate id',
      { entries: [buildEntry(), buildEntry({ id: '100.103' }), buildEntry({ id: '100.103' })] },
      /entry 2 \(id "100\.103"\): field "id" duplicates entry 1/,
    ],
    [
      'an unknown kind',
      { entries: [buildEntry({ kind: 'event' })] },
      /entry 0 \(id "100\.101"\): field "kind"/,
    ],
    [
      'an empty description',
      { entries: [buildEntry({ description: '' })] },
      /\(id "100\.101"\): field "description"/,
    ],
    ['a blank entity type', { entries: [buildEntry({ entityType: '  ' })] }, /field "entityType"/],
    [
      'a non-string entity instance format',
      { entries: [buildEntry({ entityInstanceFormat: 7 })] },
      /field "entityInstanceFormat"/,
    ],
    ['an empty probable cause', { entries: [buildEntry({ probableCause: '' })] }, /field "probableCause"/],
    [
      'a missing repair action',
      { entries: [buildEntry({ proposedRepairAction: undefined })] },
      /field "proposedRepairAction"/,
    ],
    ['an empty severities list', { entries: [buildEntry({ severities: [] })] }, /field "severities"/],
    [
      'severities that are not a list',
      { entries: [buildEntry({ severities: 'major' })] },
      /field "severities"/,
    ],
    [
      'an unknown severity',
      { entries: [buildEntry({ severities: ['major', 'clear'] })] },
      /field "severities" holds "clear"/,
    ],
    [
      'a severity listed twice',
      { entries: [buildEntry({ severities: ['major', 'major'] })] },
      /field "severities" lists a severity twice/,
    ],
    ['an unknown alarm type', { entries: [buildEntry({ alarmType: 'hardware' })] }, /field "alarmType"/],
    [
      'an unknown management threshold',
      { entries: [buildEntry({ mgmtAffectingSeverity: 'clear' })] },
      /field "mgmtAffectingSeverity"/,
    ],
    [
      'an unknown degrade threshold',
      { entries: [buildEntry({ degradeAffectingSeverity: 'None' })] },
      /field "degradeAffectingSeverity"/,
    ],
    [
      'a string for a boolean',
      { entries: [buildEntry({ isServiceAffecting: 'True' })] },
      /field "isServiceAffecting"/,
    ],
    ['a missing boolean', { entries: [withoutSuppressible] }, /field "isSuppressible" is missing/],
    [
      'an unknown field',
      { entries: [buildEntry({ maintenanceAction: 'degrade' })] },
      /\(id "100\.101"\): field "maintenanceAction" is not a catalog field/,
    ],
    [
      'only the first problem when there are several',
      { entries: [buildEntry({ kind: 'event', alarmType: 'hardware' })] },
      /field "kind"/,
    ],
  ];
  for (const [what, data, message] of rejections) {
    test(`rejects ${what}`, () => {
      assert.throws(
        () => AlarmCatalog.fromJson(data),
        (error: unknown) =>
          error instanceof Error && !(error instanceof AppError) && message.test(error.message),
      );
    });
  }
});

describe('AlarmCatalog lookups', () => {
  const catalog = AlarmCatalog.fromJson({
    entries: [buildEntry({ id: '900.001' }), buildEntry({ id: '100.104' }), buildEntry({ id: '280.001' })],
  });

  test('finds an entry by id and returns undefined for an unknown id', () => {
    assert.equal(catalog.find('280.001')?.id, '280.001');
    assert.equal(catalog.find('999.999'), undefined);
  });

  test('throws invalid_input for the alarmId field when getting an unknown id', () => {
    assert.throws(
      () => catalog.get('999.999'),
      (error: unknown) =>
        error instanceof AppError &&
        error.code === 'invalid_input' &&
        error.message === 'alarm id "999.999" is not in the alarm catalog' &&
        error.details.field === 'alarmId',
    );
  });

  test('lists entries sorted by id', () => {
    assert.deepEqual(
      catalog.entries().map((entry) => entry.id),
      ['100.104', '280.001', '900.001'],
    );
  });

  test('lists the shipped entries sorted by id', () => {
    const ids = loadAlarmCatalog()
      .entries()
      .map((entry) => entry.id);
    assert.deepEqual(ids, [...ids].sort());
  });
});
