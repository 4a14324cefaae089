import { Counter, Gauge, type Registry } from 'prom-client';
import type { FaultService } from './service.js';

/** Registers the fault metrics, read from the service when Prometheus scrapes. */
export function registerFaultMetrics(registry: Registry, fault: FaultService): { webhookFailures: Counter } {
  new Gauge({
    name: 'murm_alarms_active',
    help: 'Active alarms by severity (suppressed ones included).',
    labelNames: ['severity'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [severity, count] of Object.entries(fault.stats().bySeverity)) this.set({ severity }, count);
    },
  });
  new Gauge({
    name: 'murm_alarms_active_by_id',
    help: 'Active alarms by alarm id.',
    labelNames: ['alarm_id'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [alarmId, count] of fault.stats().byId) this.set({ alarm_id: alarmId }, count);
    },
  });
  new Counter({
    name: 'murm_events_written_total',
    help: 'Event-log records written (alarm sets, clears and logs) since the process started.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(fault.stats().eventsWritten);
    },
  });
  const webhookFailures = new Counter({
    name: 'murm_webhook_delivery_failures_total',
    help: 'Alarm webhook delivery attempts that failed (non-2xx, timeout or connection error).',
    registers: [registry],
  });
  return { webhookFailures };
}
