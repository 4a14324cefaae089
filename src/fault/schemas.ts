import { Type } from '@sinclair/typebox';
import { StringEnum } from '../core/http/routes.js';
import { ALARM_TYPES, EVENT_STATES, SEVERITIES } from './model.js';

/** TypeBox schemas of the fault API (validation, serialisation and the OpenAPI document). */
export const SeveritySchema = StringEnum(SEVERITIES);
export const EventStateSchema = StringEnum(EVENT_STATES);
export const AlarmIdSchema = Type.String({ pattern: '^[0-9]{3}\\.[0-9]{3}$', description: 'e.g. 100.101' });
const EntityInstanceSchema = Type.String({
  minLength: 1,
  maxLength: 255,
  description: 'e.g. host=controller-0',
});

const listItemFields = {
  uuid: Type.String(),
  alarmId: Type.String(),
  entityTypeId: Type.String(),
  entityInstanceId: Type.String(),
  severity: SeveritySchema,
  reasonText: Type.String(),
  isSuppressed: Type.Boolean(),
  isMgmtAffecting: Type.Boolean(),
  isDegradeAffecting: Type.Boolean(),
  raisedAt: Type.String(),
  timestamp: Type.String(),
};

export const AlarmListItemSchema = Type.Object(listItemFields);

export const AlarmViewSchema = Type.Object({
  ...listItemFields,
  alarmType: StringEnum(ALARM_TYPES),
  probableCause: Type.String(),
  proposedRepairAction: Type.String(),
  isServiceAffecting: Type.Boolean(),
});

export const EventViewSchema = Type.Object({
  seq: Type.Integer(),
  uuid: Type.String(),
  eventId: Type.String(),
  state: EventStateSchema,
  entityTypeId: Type.String(),
  entityInstanceId: Type.String(),
  severity: Type.String({ description: 'a severity, or "clear" for clear records' }),
  reasonText: Type.String(),
  eventType: Type.String(),
  probableCause: Type.String(),
  proposedRepairAction: Type.String(),
  isServiceAffecting: Type.Boolean(),
  timestamp: Type.String(),
});

export const RaiseBody = Type.Object(
  {
    alarmId: AlarmIdSchema,
    entityInstanceId: EntityInstanceSchema,
    severity: SeveritySchema,
    reasonText: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const AlarmKeyBody = Type.Object(
  { alarmId: AlarmIdSchema, entityInstanceId: EntityInstanceSchema },
  { additionalProperties: false },
);

export const SuppressionSchema = Type.Object({
  alarmId: Type.String(),
  description: Type.String(),
  isSuppressed: Type.Boolean(),
});

export const SummarySchema = Type.Object({
  critical: Type.Integer(),
  major: Type.Integer(),
  minor: Type.Integer(),
  warning: Type.Integer(),
  status: Type.Union([Type.Literal('OK'), Type.Literal('degraded'), Type.Literal('critical')]),
});
