import type { Clock } from '../core/clock.js';
import { AppError, notFound } from '../core/errors.js';
import {
  checkGroup,
  checkGroupDelete,
  DEFAULT_GROUP,
  type GroupSettings,
  type Refusal,
  type UpdateApplyType,
} from './model.js';
import type { DcStore, GroupRecord } from './store.js';

/** A subcloud group as the API shows it, with its member count. */
export type GroupView = GroupRecord & { subclouds: number };

/**
 * Subcloud groups: kept in memory (there are few), written through at once. Membership is counted
 * by the caller, who owns the subclouds.
 */
export class SubcloudGroups {
  private readonly groups = new Map<string, GroupRecord>();

  constructor(
    private readonly store: DcStore,
    private readonly clock: Clock,
  ) {}

  /** Loads the groups; creates "Default" (parallel, max 2) on first start. */
  async open(): Promise<void> {
    this.groups.clear();
    for (const group of await this.store.listGroups()) this.groups.set(group.name, group);
    if (!this.groups.has(DEFAULT_GROUP.name)) {
      const now = this.clock.now().toISOString();
      const group: GroupRecord = { ...DEFAULT_GROUP, createdAt: now, updatedAt: now };
      await this.store.insertGroup(group);
      this.groups.set(group.name, group);
    }
  }

  has(name: string): boolean {
    return this.groups.has(name);
  }

  list(): GroupRecord[] {
    return [...this.groups.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Throws `not_found`. */
  get(name: string): GroupRecord {
    const group = this.groups.get(name);
    if (!group) throw notFound('subcloud group', name);
    return group;
  }

  /** Throws `invalid_input` for bad settings and `conflict` when the name is taken. */
  async add(input: {
    name: string;
    description?: string | undefined;
    updateApplyType: UpdateApplyType;
    maxParallelSubclouds: number;
  }): Promise<GroupRecord> {
    refuse(checkGroup(input));
    if (this.groups.has(input.name)) {
      throw new AppError('conflict', `subcloud group "${input.name}" already exists`);
    }
    const now = this.clock.now().toISOString();
    const group: GroupRecord = {
      name: input.name,
      description: input.description ?? '',
      updateApplyType: input.updateApplyType,
      maxParallelSubclouds: input.maxParallelSubclouds,
      createdAt: now,
      updatedAt: now,
    };
    await this.store.insertGroup(group);
    this.groups.set(group.name, group);
    return group;
  }

  /** Changes description, apply type or max parallel (the name stays); throws `not_found`, `invalid_input`. */
  async modify(name: string, patch: Partial<GroupSettings>): Promise<GroupRecord> {
    const current = this.get(name);
    refuse(checkGroup(patch));
    const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
    const nowMs = Math.max(this.clock.now().getTime(), Date.parse(current.updatedAt) + 1);
    const next: GroupRecord = { ...current, ...defined, updatedAt: new Date(nowMs).toISOString() };
    if (!(await this.store.updateGroup(next, current.updatedAt))) {
      throw new AppError('conflict', `subcloud group "${name}" was changed by someone else; try again`);
    }
    this.groups.set(name, next);
    return next;
  }

  /** Throws `not_found`, or `precondition_failed` for Default and for a group with members. */
  async delete(name: string, members: number): Promise<void> {
    this.get(name);
    refuse(checkGroupDelete(name, members));
    await this.store.deleteGroup(name);
    this.groups.delete(name);
  }
}

export function refuse(refusal: Refusal | undefined): void {
  if (!refusal) return;
  throw new AppError(
    refusal.code,
    refusal.reason,
    refusal.field === undefined ? {} : { field: refusal.field },
  );
}
