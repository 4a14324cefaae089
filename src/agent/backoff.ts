/** Reconnect delays grow from half a second to at most thirty seconds. */
const DEFAULT_BASE_MS = 500;
const DEFAULT_CAP_MS = 30_000;
/** 2^31 × base already exceeds any sane cap; stopping there keeps the arithmetic finite. */
const MAX_EXPONENT = 31;

/**
 * How long to wait before reconnect attempt `attempt` (0 for the first retry): "full jitter", a
 * uniform draw from [0, min(cap, base × 2^attempt)). The jitter spreads a fleet of agents that lost
 * their controller at the same moment, so they do not all come back in the same instant.
 */
export function reconnectDelayMs(
  attempt: number,
  random: () => number,
  options: { baseMs?: number; capMs?: number } = {},
): number {
  const baseMs = options.baseMs ?? DEFAULT_BASE_MS;
  const capMs = options.capMs ?? DEFAULT_CAP_MS;
  const exponent = Math.min(Math.max(Math.floor(attempt), 0), MAX_EXPONENT);
  const ceiling = Math.min(capMs, baseMs * 2 ** exponent);
  // Clamp the draw: an injected random() outside [0, 1) must not produce a delay above the ceiling.
  const draw = Math.min(Math.max(random(), 0), 1);
  return Math.floor(draw * ceiling);
}
