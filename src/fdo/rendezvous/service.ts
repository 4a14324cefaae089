import type { Clock } from '../../core/clock.js';
import { conflict, notFound } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import {
  type AccessList,
  type AccessRule,
  type AccessSubject,
  isAccepted,
  parseGuid,
  parseRuleValue,
  type Registration,
  type RuleSubjects,
  type StoredRegistration,
} from './model.js';
import type { RendezvousStore } from './store.js';

/** How often a listener re-reads the rules, so changes made by another process reach it. */
const RULES_REFRESH_MS = 5_000;

/**
 * Registrations and the allow/deny lists: the use cases behind the admin API and the TO0/TO1 protocol.
 * The rules are kept in memory (every TO0 and TO1 consults them) and re-read from the database
 * periodically, because a standalone `murm rendezvous` shares the database with the API process.
 */
export class RendezvousRegistrations {
  private rules: AccessRule[] = [];
  private rulesReadAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: RendezvousStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Live registrations, `limit` at a time after the cursor (a GUID). */
  async list(limit: number, after?: string): Promise<{ items: Registration[]; next?: string }> {
    const items = await this.store.list({
      now: this.clock.now(),
      limit,
      afterGuid: after === undefined ? undefined : parseGuid(after),
    });
    const last = items.at(-1);
    return items.length === limit && last ? { items, next: last.guid } : { items };
  }

  /** A live registration; throws `not_found`. */
  async get(guid: string): Promise<Registration> {
    const key = parseGuid(guid);
    const found = await this.store.find(key);
    if (!found || found.expiresAt <= this.clock.now().toISOString()) throw notFound('fdo registration', key);
    return found;
  }

  /** Deletes a registration (the device then gets RESOURCE_NOT_FOUND in TO1); throws `not_found`. */
  async delete(guid: string): Promise<void> {
    const key = parseGuid(guid);
    if (!(await this.store.delete(key))) throw notFound('fdo registration', key);
    this.logger.info({ guid: key }, 'fdo registration deleted');
  }

  async listRules(): Promise<AccessRule[]> {
    return this.store.listRules();
  }

  /** Adds an allow or deny rule; throws `invalid_input` for a malformed value and `conflict` if present. */
  async addRule(list: AccessList, subject: AccessSubject, value: string): Promise<AccessRule> {
    const rule = {
      list,
      subject,
      value: parseRuleValue(subject, value),
      createdAt: this.clock.now().toISOString(),
    };
    if (!(await this.store.addRule(rule))) {
      throw conflict(`the fdo ${list} list already has ${subject} "${rule.value}"`);
    }
    await this.refreshRules();
    return rule;
  }

  /** Removes a rule; throws `not_found`. */
  async removeRule(list: AccessList, subject: AccessSubject, value: string): Promise<void> {
    const normalized = parseRuleValue(subject, value);
    if (!(await this.store.removeRule(list, subject, normalized))) {
      throw notFound(`fdo ${list} rule`, `${subject} ${normalized}`);
    }
    await this.refreshRules();
  }

  /** Whether the lists accept this device (re-reading them when they may be stale). */
  async isAccepted(subjects: RuleSubjects): Promise<boolean> {
    if (Date.now() - this.rulesReadAt > RULES_REFRESH_MS) await this.refreshRules();
    return isAccepted(this.rules, subjects);
  }

  /** The owner-key hash of the GUID's live registration, if any (whatever the lists say). */
  async liveOwner(guid: string): Promise<string | undefined> {
    const found = await this.store.find(guid);
    return found && found.expiresAt > this.clock.now().toISOString() ? found.ownerKeyHash : undefined;
  }

  /** Stores a TO0 registration, replacing the GUID's previous one. */
  async register(registration: StoredRegistration): Promise<void> {
    await this.store.upsert(registration);
  }

  /** The live registration of a GUID that the lists still accept. */
  async findLive(guid: string): Promise<StoredRegistration | undefined> {
    const found = await this.store.findLive(guid, this.clock.now());
    if (!found || !(await this.isAccepted(found))) return undefined;
    return found;
  }

  async countLive(): Promise<number> {
    return this.store.countLive(this.clock.now());
  }

  /** Deletes expired registrations (reads already ignore them; this keeps the table small). */
  async sweep(): Promise<number> {
    const count = await this.store.deleteExpired(this.clock.now());
    if (count > 0) this.logger.info({ count }, 'expired fdo registrations deleted');
    return count;
  }

  private async refreshRules(): Promise<void> {
    this.rules = await this.store.listRules();
    // Real time, not the injected clock: this is a cache refresh, not a protocol deadline.
    this.rulesReadAt = Date.now();
  }
}
