import type { Kysely } from 'kysely';
import { type Database, tablesOf } from '../core/db/database.js';
import type { AlarmWebhookFilter, DeliveryState, LastDeliveryStatus } from './webhook-model.js';

interface AlarmWebhooksTable {
  id: string;
  url: string;
  secret: string;
  filter: string;
  is_enabled: number;
  created_at: string;
  last_status: LastDeliveryStatus | null;
  last_status_code: number | null;
  last_error: string | null;
  last_attempt_at: string | null;
  last_success_at: string | null;
  consecutive_failures: number;
}
interface AlarmWebhookOutboxTable {
  id: string;
  webhook_id: string;
  event_uuid: string;
  body: string;
  attempts: number;
  next_attempt_at: string;
  state: DeliveryState;
  created_at: string;
}
interface WebhookTables {
  alarm_webhooks: AlarmWebhooksTable;
  alarm_webhook_outbox: AlarmWebhookOutboxTable;
}

/** A stored webhook subscription with its delivery status. */
export interface AlarmWebhook {
  id: string;
  url: string;
  secret: string;
  filter: AlarmWebhookFilter;
  isEnabled: boolean;
  createdAt: string;
  lastStatus: LastDeliveryStatus | null;
  lastStatusCode: number | null;
  lastError: string | null;
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
  consecutiveFailures: number;
  pendingCount: number;
}

/** One outbox row to insert: a change to send to one webhook. */
export interface NewDelivery {
  id: string;
  webhookId: string;
  eventUuid: string;
  body: string;
  at: string;
}

/** A claimed outbox row with what sending it needs. */
export interface DueDelivery {
  id: string;
  webhookId: string;
  url: string;
  secret: string;
  eventUuid: string;
  body: string;
  attempts: number;
}

/** What an attempt did to its outbox row and to its webhook's last status. */
export interface AttemptResult {
  deliveryId: string;
  webhookId: string;
  /** The attempts the row had when it was claimed; the update is a compare-and-set on it. */
  previousAttempts: number;
  state: DeliveryState;
  nextAttemptAt: string;
  lastStatus: LastDeliveryStatus;
  statusCode: number | null;
  error: string | null;
  at: string;
}

// Kept under SQLite's and PostgreSQL's bind-parameter limits (6 columns per row).
const INSERT_CHUNK = 1000;

/** Queries on the webhook tables: alarm_webhooks and alarm_webhook_outbox. */
export class AlarmWebhookStore {
  private readonly db: Kysely<WebhookTables>;

  constructor(database: Database) {
    this.db = tablesOf<WebhookTables>(database);
  }

  async insertWebhook(webhook: {
    id: string;
    url: string;
    secret: string;
    filter: AlarmWebhookFilter;
    createdAt: string;
  }): Promise<void> {
    await this.db
      .insertInto('alarm_webhooks')
      .values({
        id: webhook.id,
        url: webhook.url,
        secret: webhook.secret,
        filter: JSON.stringify(webhook.filter),
        is_enabled: 1,
        created_at: webhook.createdAt,
        consecutive_failures: 0,
      })
      .execute();
  }

  /** Every webhook, oldest first, with its pending delivery count. */
  async listWebhooks(): Promise<AlarmWebhook[]> {
    const [rows, pending] = await Promise.all([
      this.db.selectFrom('alarm_webhooks').selectAll().orderBy('created_at').orderBy('id').execute(),
      this.db
        .selectFrom('alarm_webhook_outbox')
        .select(['webhook_id', (eb) => eb.fn.countAll<number>().as('n')])
        .where('state', '=', 'pending')
        .groupBy('webhook_id')
        .execute(),
    ]);
    const counts = new Map(pending.map((row) => [row.webhook_id, Number(row.n)]));
    return rows.map((row) => toWebhook(row, counts.get(row.id) ?? 0));
  }

  async findWebhook(id: string): Promise<AlarmWebhook | undefined> {
    const row = await this.db
      .selectFrom('alarm_webhooks')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    const pending = await this.db
      .selectFrom('alarm_webhook_outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('webhook_id', '=', id)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return toWebhook(row, Number(pending?.n ?? 0));
  }

  async countWebhooks(): Promise<number> {
    const row = await this.db
      .selectFrom('alarm_webhooks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** The enabled webhooks' ids and filters: what deciding who receives a change needs. */
  async listEnabledFilters(): Promise<{ id: string; filter: AlarmWebhookFilter }[]> {
    const rows = await this.db
      .selectFrom('alarm_webhooks')
      .select(['id', 'filter'])
      .where('is_enabled', '=', 1)
      .execute();
    return rows.map((row) => ({ id: row.id, filter: JSON.parse(row.filter) as AlarmWebhookFilter }));
  }

  /** Deletes a webhook and (by cascade) its outbox; returns false when there was none. */
  async deleteWebhook(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('alarm_webhooks').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /** Inserts pending deliveries, one statement per chunk; an event already queued for a webhook is skipped. */
  async insertDeliveries(deliveries: readonly NewDelivery[]): Promise<void> {
    for (let start = 0; start < deliveries.length; start += INSERT_CHUNK) {
      const values = deliveries.slice(start, start + INSERT_CHUNK).map((delivery) => ({
        id: delivery.id,
        webhook_id: delivery.webhookId,
        event_uuid: delivery.eventUuid,
        body: delivery.body,
        attempts: 0,
        next_attempt_at: delivery.at,
        state: 'pending' as const,
        created_at: delivery.at,
      }));
      await this.db
        .insertInto('alarm_webhook_outbox')
        .values(values)
        .onConflict((oc) => oc.columns(['webhook_id', 'event_uuid']).doNothing())
        .execute();
    }
  }

  /**
   * Claims up to `limit` pending rows due at `now` of enabled webhooks by moving their next attempt to
   * `leaseUntil`. The update re-checks the due condition, so a concurrent claimer (another replica, or an
   * explicit pass beside the loop) gets each row at most once; a process that dies mid-send leaves the
   * row to be retried when the lease ends.
   */
  async claimDue(now: string, leaseUntil: string, limit: number): Promise<DueDelivery[]> {
    const due = await this.db
      .selectFrom('alarm_webhook_outbox as o')
      .innerJoin('alarm_webhooks as w', 'w.id', 'o.webhook_id')
      .select('o.id')
      .where('o.state', '=', 'pending')
      .where('o.next_attempt_at', '<=', now)
      .where('w.is_enabled', '=', 1)
      .orderBy('o.next_attempt_at')
      .limit(limit)
      .execute();
    if (due.length === 0) return [];
    const claimed = await this.db
      .updateTable('alarm_webhook_outbox')
      .set({ next_attempt_at: leaseUntil })
      .where(
        'id',
        'in',
        due.map((row) => row.id),
      )
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .returning(['id', 'webhook_id', 'event_uuid', 'body', 'attempts'])
      .execute();
    if (claimed.length === 0) return [];
    const webhooks = await this.db
      .selectFrom('alarm_webhooks')
      .select(['id', 'url', 'secret'])
      .where('id', 'in', [...new Set(claimed.map((row) => row.webhook_id))])
      .execute();
    const byId = new Map(webhooks.map((webhook) => [webhook.id, webhook]));
    return claimed.flatMap((row) => {
      const webhook = byId.get(row.webhook_id);
      if (!webhook) return []; // deleted between the claim and now; its rows went with it
      return [
        {
          id: row.id,
          webhookId: row.webhook_id,
          url: webhook.url,
          secret: webhook.secret,
          eventUuid: row.event_uuid,
          body: row.body,
          attempts: row.attempts,
        },
      ];
    });
  }

  /** Records an attempt on the row (compare-and-set on its attempts) and on its webhook's last status. */
  async recordAttempt(result: AttemptResult): Promise<void> {
    const isDelivered = result.lastStatus === 'delivered';
    await this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('alarm_webhook_outbox')
        .set({
          attempts: result.previousAttempts + 1,
          state: result.state,
          next_attempt_at: result.nextAttemptAt,
        })
        .where('id', '=', result.deliveryId)
        .where('state', '=', 'pending')
        .where('attempts', '=', result.previousAttempts)
        .executeTakeFirst();
      // Zero rows: the webhook was deleted while the request was in flight; nothing left to record.
      if (updated.numUpdatedRows === 0n) return;
      await trx
        .updateTable('alarm_webhooks')
        .set((eb) => ({
          last_status: result.lastStatus,
          last_status_code: result.statusCode,
          last_error: result.error,
          last_attempt_at: result.at,
          ...(isDelivered
            ? { last_success_at: result.at, consecutive_failures: 0 }
            : { consecutive_failures: eb('consecutive_failures', '+', 1) }),
        }))
        .where('id', '=', result.webhookId)
        .execute();
    });
  }

  /** Deletes terminal rows in `state` whose last attempt was before `before`; returns how many. */
  async purge(state: 'delivered' | 'failed', before: string): Promise<number> {
    const result = await this.db
      .deleteFrom('alarm_webhook_outbox')
      .where('state', '=', state)
      .where('next_attempt_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function toWebhook(row: AlarmWebhooksTable, pendingCount: number): AlarmWebhook {
  return {
    id: row.id,
    url: row.url,
    secret: row.secret,
    filter: JSON.parse(row.filter) as AlarmWebhookFilter,
    isEnabled: Boolean(row.is_enabled),
    createdAt: row.created_at,
    lastStatus: row.last_status,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    lastAttemptAt: row.last_attempt_at,
    lastSuccessAt: row.last_success_at,
    consecutiveFailures: row.consecutive_failures,
    pendingCount,
  };
}
