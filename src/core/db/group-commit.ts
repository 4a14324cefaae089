/**
 * Collects items and writes them in groups: everything added during one turn of the event loop is
 * written by one call of `write`, after the previous group's write has finished. One transaction per
 * turn instead of one per request is what lets a burst of writes run at the database's batch speed.
 * `add` resolves when the item's group is written, or rejects with that group's error.
 */
export class GroupCommit<T> {
  private items: T[] = [];
  private next: Promise<void> | undefined;
  private previous: Promise<void> = Promise.resolve();

  constructor(private readonly write: (items: T[]) => Promise<void>) {}

  add(item: T): Promise<void> {
    this.items.push(item);
    if (!this.next) {
      const previous = this.previous;
      const group = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          previous.then(() => this.writeGroup()).then(resolve, reject);
        });
      });
      this.next = group;
      this.previous = group.catch(() => undefined);
    }
    return this.next;
  }

  /** Resolves once everything added so far is written (or failed). */
  async settled(): Promise<void> {
    await this.previous;
  }

  private async writeGroup(): Promise<void> {
    const items = this.items;
    this.items = [];
    this.next = undefined;
    await this.write(items);
  }
}
