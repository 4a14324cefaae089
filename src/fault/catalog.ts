import { AppError } from '../core/errors.js';
import catalogData from './catalog.json' with { type: 'json' };
import { ALARM_TYPES, type CatalogEntry, SEVERITIES } from './model.js';

const ID_PATTERN = /^\d{3}\.\d{3}$/;
const KINDS: readonly string[] = ['alarm', 'log'];
const THRESHOLDS: readonly string[] = [...SEVERITIES, 'none'];

/** A field check returns what is wrong with the value, or undefined when it is valid. */
type FieldCheck = (value: unknown) => string | undefined;

const nonEmptyString: FieldCheck = (value) =>
  typeof value === 'string' && value.trim().length > 0 ? undefined : 'must be a non-empty string';

const boolean: FieldCheck = (value) => (typeof value === 'boolean' ? undefined : 'must be true or false');

const oneOf =
  (allowed: readonly string[]): FieldCheck =>
  (value) =>
    typeof value === 'string' && allowed.includes(value) ? undefined : `must be one of ${allowed.join(', ')}`;

const severities: FieldCheck = (value) => {
  if (!Array.isArray(value) || value.length === 0) return 'must be a non-empty list of severities';
  for (const severity of value) {
    if (typeof severity !== 'string' || !(SEVERITIES as readonly string[]).includes(severity)) {
      return `holds "${String(severity)}"; allowed: ${SEVERITIES.join(', ')}`;
    }
  }
  return new Set(value).size === value.length ? undefined : 'lists a severity twice';
};

// Checked in this order, so an error names the first bad field; `satisfies` makes a new CatalogEntry field
// fail to compile until it is checked here.
const FIELD_CHECKS = {
  id: (value) =>
    typeof value === 'string' && ID_PATTERN.test(value) ? undefined : 'must look like "100.101"',
  kind: oneOf(KINDS),
  description: nonEmptyString,
  entityType: nonEmptyString,
  entityInstanceFormat: nonEmptyString,
  severities,
  alarmType: oneOf(ALARM_TYPES),
  probableCause: nonEmptyString,
  proposedRepairAction: nonEmptyString,
  isServiceAffecting: boolean,
  isSuppressible: boolean,
  mgmtAffectingSeverity: oneOf(THRESHOLDS),
  degradeAffectingSeverity: oneOf(THRESHOLDS),
} satisfies Record<keyof CatalogEntry, FieldCheck>;

const FIELDS = Object.keys(FIELD_CHECKS);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function entryLabel(index: number, entry: unknown): string {
  const id = isRecord(entry) ? entry.id : undefined;
  return typeof id === 'string'
    ? `alarm catalog entry ${index} (id "${id}")`
    : `alarm catalog entry ${index}`;
}

/** Checks one raw entry and returns it typed; throws an Error naming the entry and the first bad field. */
function validateEntry(entry: unknown, index: number, seen: Map<string, number>): CatalogEntry {
  const label = entryLabel(index, entry);
  if (!isRecord(entry)) throw new Error(`${label} must be an object`);
  for (const [field, check] of Object.entries(FIELD_CHECKS)) {
    const problem = field in entry ? check(entry[field]) : 'is missing';
    if (problem !== undefined) throw new Error(`${label}: field "${field}" ${problem}`);
    if (field === 'id') {
      const id = entry.id as string;
      const first = seen.get(id);
      if (first !== undefined) throw new Error(`${label}: field "id" duplicates entry ${first}`);
      seen.set(id, index);
    }
  }
  const unknown = Object.keys(entry).find((field) => !FIELDS.includes(field));
  if (unknown !== undefined) throw new Error(`${label}: field "${unknown}" is not a catalog field`);
  const valid = entry as unknown as CatalogEntry;
  return Object.freeze({
    ...valid,
    severities: Object.freeze([...valid.severities]) as CatalogEntry['severities'],
  });
}

/** The alarm catalog: which alarm and log ids exist and how each behaves (StarlingX events.yaml). */
export class AlarmCatalog {
  readonly #byId: ReadonlyMap<string, CatalogEntry>;
  readonly #sorted: readonly CatalogEntry[];

  private constructor(entries: readonly CatalogEntry[]) {
    this.#sorted = Object.freeze([...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
    this.#byId = new Map(entries.map((entry) => [entry.id, entry]));
  }

  /** Validates `{ entries: [...] }`; throws an Error naming the first bad entry (index and id) and field. */
  static fromJson(data: unknown): AlarmCatalog {
    if (!isRecord(data) || !Array.isArray(data.entries)) {
      throw new Error('alarm catalog must be an object with an "entries" list');
    }
    const extra = Object.keys(data).find((key) => key !== 'entries');
    if (extra !== undefined) throw new Error(`alarm catalog: field "${extra}" is not a catalog field`);
    const seen = new Map<string, number>();
    return new AlarmCatalog(data.entries.map((entry: unknown, index) => validateEntry(entry, index, seen)));
  }

  /** The entry for an alarm or log id, or undefined. */
  find(id: string): CatalogEntry | undefined {
    return this.#byId.get(id);
  }

  /** The entry for an alarm or log id; throws `invalid_input` (field `alarmId`) when the catalog lacks it. */
  get(id: string): CatalogEntry {
    const entry = this.#byId.get(id);
    if (entry === undefined) {
      throw new AppError('invalid_input', `alarm id "${id}" is not in the alarm catalog`, {
        field: 'alarmId',
      });
    }
    return entry;
  }

  /** Every entry, sorted by id. */
  entries(): readonly CatalogEntry[] {
    return this.#sorted;
  }
}

let shipped: AlarmCatalog | undefined;

/** The catalog shipped in catalog.json, validated once per process; throws an Error if the file is invalid. */
export function loadAlarmCatalog(): AlarmCatalog {
  shipped ??= AlarmCatalog.fromJson(catalogData);
  return shipped;
}
