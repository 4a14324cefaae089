/** Called with the new and the previous status when a poll changed what is worth reporting. */
type StatusListener<S> = (status: S, previous: S) => void;

type MonitorState = 'idle' | 'running' | 'stopping' | 'stopped';

const DEFAULT_INTERVAL_MS = 1_000;

/**
 * What the ptp4l and os-clock monitors share: a status, change listeners and the polling lifecycle.
 * - `idle`: created; `status` is the initial one.
 * - `running`: start() was called; one poll at a time, the next `intervalMs` after the last ended
 *   (a fixed gap rather than a fixed rate, so a slow poll never overlaps the next).
 * - `stopping` → `stopped`: stop() was called; waits for the poll under way, then no poll follows.
 */
export abstract class PollingMonitor<S> {
  private state: MonitorState = 'idle';
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<StatusListener<S>>();

  protected constructor(
    protected current: S,
    private readonly intervalMs: number = DEFAULT_INTERVAL_MS,
  ) {}

  /** Runs one poll and folds it into the status (also usable without start()). */
  abstract poll(): Promise<S>;

  /** Whether the step from `previous` to `next` is worth telling the listeners. */
  protected abstract hasChanged(previous: S, next: S): boolean;

  /** The latest status. */
  get status(): S {
    return this.current;
  }

  /** Adds a change listener; returns a function that removes it. */
  onChange(listener: StatusListener<S>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Polls at once, then every `intervalMs` until stop(). */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.schedule(0);
  }

  /** Stops polling; resolves when the poll under way (if any) has finished. */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    clearTimeout(this.timer);
    await this.polling;
    this.state = 'stopped';
  }

  /** Makes `next` the status and tells the listeners if it changed; returns it. */
  protected update(next: S): S {
    const previous = this.current;
    this.current = next;
    if (this.hasChanged(previous, next)) {
      for (const listener of this.listeners) listener(next, previous);
    }
    return next;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.polling = this.poll().then(
        () => this.scheduleNext(),
        () => this.scheduleNext(),
      );
    }, delayMs);
  }

  private scheduleNext(): void {
    if (this.state === 'running') this.schedule(this.intervalMs);
  }
}
