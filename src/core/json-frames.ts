import type { RawData } from 'ws';

/**
 * A JSON text frame of a WebSocket (the agent channel, the subcloud uplink) as an object with a string
 * `type`, or undefined for binary data, bad JSON or anything without a type. Callers check the rest.
 */
export function parseJsonFrame<T extends { type: string }>(data: RawData, isBinary: boolean): T | undefined {
  if (isBinary) return undefined;
  const text = Array.isArray(data)
    ? Buffer.concat(data).toString('utf8')
    : Buffer.from(data as ArrayBuffer).toString('utf8');
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    return typeof (value as { type?: unknown }).type === 'string' ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}
