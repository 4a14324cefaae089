import { Type } from '@sinclair/typebox';
import type { HttpApp } from '../core/http/routes.js';
import type { InventoryService } from '../inventory/service.js';
import type { PtpInstanceStatus } from './status-registry.js';
import type { PtpStatusService } from './status-service.js';

const Hostname = Type.String({ minLength: 1, maxLength: 63 });
const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Number>>(schema: T) =>
  Type.Union([schema, Type.Null()]);

const StatusSchema = Type.Object({
  state: Type.String({ description: 'LOCKED, HOLDOVER or FREERUN' }),
  since: Type.String({ format: 'date-time' }),
  observedAt: Type.String({ format: 'date-time' }),
  isRunning: Type.Boolean(),
  source: Type.String({
    description: 'ptp (a port is SLAVE), local (this clock is the grandmaster) or none',
  }),
  clockClass: Type.Integer(),
  offsetNs: Nullable(Type.Number()),
  gmIdentity: Nullable(Type.String()),
  ports: Type.Array(Type.Object({ portNumber: Type.Integer(), portState: Type.String() })),
  osClock: Type.Union(
    [
      Type.Object({
        sourceInstance: Nullable(Type.String()),
        phcInterface: Nullable(Type.String()),
        phcOffsetNs: Nullable(Type.Number()),
        phcError: Nullable(Type.String()),
      }),
      Type.Null(),
    ],
    {
      description:
        'phc2sys instances: the ptp4l instance in use, the interface whose PHC was compared with CLOCK_REALTIME, phc_ctl cmp offset (CLOCK_REALTIME − PHC, ns) or why it could not be read',
    },
  ),
  alarms: Type.Array(
    Type.Object({ entityInstanceId: Type.String(), severity: Type.String(), reasonText: Type.String() }),
  ),
});
const InstanceStatusSchema = Type.Object({
  instance: Type.String(),
  service: Type.String({
    description: 'ptp4l, or phc2sys (its state is the os-clock-sync-state of the system clock)',
  }),
  isPrimary: Type.Boolean(),
  reportedAt: Nullable(Type.String({ format: 'date-time' })),
  status: Type.Union([StatusSchema, Type.Null()], { description: 'null until the agent reported it' }),
});
const HostStatusSchema = Type.Object({
  hostname: Type.String(),
  osClock: Type.Optional(
    Nullable(
      Type.String({
        description:
          "os-clock-sync-state (LOCKED, HOLDOVER or FREERUN): the first phc2sys instance's state; null until it reported, absent on a host without phc2sys",
      }),
    ),
  ),
  instances: Type.Array(InstanceStatusSchema),
});

/**
 * `GET /v1/hosts/:hostname/ptp/status`: the latest status of each ptp4l and phc2sys instance, as the
 * agent reported it, and the node's os-clock state.
 */
export function registerPtpStatusRoutes(
  app: HttpApp,
  parts: { inventory: InventoryService; status: PtpStatusService },
): void {
  app.get(
    '/v1/hosts/:hostname/ptp/status',
    {
      config: { access: 'read' },
      schema: {
        summary:
          'Sync state, clock class, offset, ports and 100.119 alarms of each ptp4l and phc2sys instance of a host',
        tags: ['ptp'],
        params: Type.Object({ hostname: Hostname }),
        response: { 200: HostStatusSchema },
      },
    },
    async (request) => {
      const { hostname } = request.params;
      parts.inventory.getHost(hostname);
      const instances = parts.status.instances(hostname);
      const hasOsClock = instances.some((entry) => entry.service === 'phc2sys');
      return {
        hostname,
        ...(hasOsClock ? { osClock: parts.status.osClock(hostname) ?? null } : {}),
        instances: instances.map(instanceView),
      };
    },
  );
}

function instanceView(entry: PtpInstanceStatus) {
  const { status } = entry;
  return {
    instance: entry.instance,
    service: entry.service,
    isPrimary: entry.isPrimary,
    reportedAt: entry.reportedAt?.toISOString() ?? null,
    status:
      status === undefined
        ? null
        : {
            state: status.state,
            since: status.since.toISOString(),
            observedAt: status.observedAt.toISOString(),
            isRunning: status.isRunning,
            source: status.source,
            clockClass: status.clockClass,
            offsetNs: status.offsetNs ?? null,
            gmIdentity: status.gmIdentity ?? null,
            ports: [...(entry.ports ?? [])],
            osClock:
              entry.service === 'phc2sys'
                ? {
                    sourceInstance: entry.osClock?.sourceInstance ?? null,
                    phcInterface: entry.osClock?.phcInterface ?? null,
                    phcOffsetNs: entry.osClock?.phcOffsetNs ?? null,
                    phcError: entry.osClock?.phcError ?? null,
                  }
                : null,
            alarms: status.alarms.map(({ entityInstanceId, severity, reasonText }) => ({
              entityInstanceId,
              severity,
              reasonText,
            })),
          },
  };
}
