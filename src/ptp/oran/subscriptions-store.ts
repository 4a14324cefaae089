import type { Kysely } from 'kysely';
import { type Database, tablesOf } from '../../core/db/database.js';

interface OranSubscriptionsTable {
  id: string;
  endpoint_uri: string;
  resource_address: string;
  created_at: string;
}
interface OranTables {
  oran_subscriptions: OranSubscriptionsTable;
}

/** A stored subscription. */
export interface OranSubscription {
  id: string;
  endpointUri: string;
  resourceAddress: string;
  createdAt: string;
}

/** Queries on the O-RAN notification subscriptions table. */
export class OranSubscriptionsStore {
  private readonly db: Kysely<OranTables>;

  constructor(database: Database) {
    this.db = tablesOf<OranTables>(database);
  }

  /** Inserts a subscription; returns false when the same endpoint already has the same address. */
  async insert(subscription: OranSubscription): Promise<boolean> {
    const result = await this.db
      .insertInto('oran_subscriptions')
      .values({
        id: subscription.id,
        endpoint_uri: subscription.endpointUri,
        resource_address: subscription.resourceAddress,
        created_at: subscription.createdAt,
      })
      .onConflict((oc) => oc.columns(['endpoint_uri', 'resource_address']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
  }

  /** Every subscription, oldest first. */
  async list(): Promise<OranSubscription[]> {
    const rows = await this.db
      .selectFrom('oran_subscriptions')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toSubscription);
  }

  /** One subscription, or undefined. */
  async find(id: string): Promise<OranSubscription | undefined> {
    const row = await this.db
      .selectFrom('oran_subscriptions')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toSubscription(row);
  }

  /** Deletes a subscription; returns whether it existed. */
  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('oran_subscriptions').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }
}

function toSubscription(row: OranSubscriptionsTable): OranSubscription {
  return {
    id: row.id,
    endpointUri: row.endpoint_uri,
    resourceAddress: row.resource_address,
    createdAt: row.created_at,
  };
}
