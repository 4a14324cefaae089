import type { UplinkTransport } from '../../src/dcloud/service.js';
import type { RpcMethod } from '../../src/dcloud/uplink-protocol.js';

/**
 * A fake of our own UplinkTransport that counts the calls under way and can hold every answer until
 * the test releases them, to observe the push concurrency cap. Subclasses say what a subcloud answers.
 */
export abstract class HoldingUplinkTransport implements UplinkTransport {
  inFlight = 0;
  maxInFlight = 0;
  private held: (() => void)[] | undefined;

  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const resolve of held) resolve();
  }

  async call(name: string, method: RpcMethod, params: unknown): Promise<unknown> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.held) await new Promise<void>((resolve) => this.held?.push(resolve));
      return this.answer(name, method, params);
    } finally {
      this.inFlight -= 1;
    }
  }

  abstract disconnect(name: string): void;

  /** The subcloud's answer once released; throwing is an error answer. */
  protected abstract answer(name: string, method: RpcMethod, params: unknown): unknown;
}
