import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, Option } from 'commander';
import type { Dispatcher } from 'undici';
import { commonJsExports } from '../core/commonjs.js';
import { AppError, type ErrorCode } from '../core/errors.js';
import { HTTP_STATUS } from '../core/http/errors.js';
import { type AlarmView, SEVERITIES, type Severity } from '../fault/model.js';
import type { OutputFormat } from './output.js';
import { type Connection, globalOptions, resolveConnection, withApi } from './session.js';

interface WatchFlags {
  alarmId?: string;
  entity?: string;
  severity?: Severity;
}

const CHANGES = ['raised', 'updated', 'cleared'] as const;

/** One line of `murm alarm watch -o json`. */
interface AlarmChangeLine {
  change: (typeof CHANGES)[number];
  eventSeq: number;
  alarm: AlarmView;
}

/** One dispatched Server-Sent Event. */
interface StreamEvent {
  type: string;
  id: string | undefined;
  data: string;
}

const STREAM_PATH = '/v1/alarms/stream';
const CONNECT_TIMEOUT_MS = 10_000;
// The server sends keep-alive comments far more often; this long a silence means the connection is dead.
const IDLE_TIMEOUT_MS = 90_000;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;
// Worth retrying: the server restarting or overloaded. Anything else (an expired login) will not heal.
const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set(['unavailable', 'internal']);

/** `murm alarm watch`: prints alarm changes from the server's event stream until SIGINT or SIGTERM. */
export function addWatchCommand(alarm: Command): void {
  alarm
    .command('watch')
    .description('print alarm changes (raised, updated, cleared) as they happen, until Ctrl-C')
    .option('--alarm-id <id>', 'only this alarm id, like 100.101')
    .option('--entity <prefix>', 'only entity instance ids that start with this, like host=controller-0')
    .addOption(new Option('--severity <severity>', 'only alarms of this severity').choices(SEVERITIES))
    .addHelpText(
      'after',
      `
Each change is one line: TIME  CHANGE  ALARM ID  ENTITY  SEVERITY  REASON; with -o json, one JSON
object per line ({"change","eventSeq","alarm"}). A dropped connection is retried with backoff.

Examples:
  murm alarm watch
  murm alarm watch --entity host=controller-0 --severity critical
  murm alarm watch -o json | jq -c 'select(.change == "raised")'`,
    )
    .action(async (flags: WatchFlags, command: Command) => {
      // A wrong URL, CA or login fails here with its usual message, rather than being retried below.
      await withApi(command, (api) => api.get('/v1/alarms/summary'));
      const connection = resolveConnection(globalOptions(command), process.env);
      if (connection === undefined) throw new AppError('unauthenticated', 'not logged in');
      const write = await changeWriter(globalOptions(command).output);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await followStream(connection, stop.signal, (event) => {
          const line = toChangeLine(event);
          if (line !== undefined && matches(line.alarm, flags)) write(line);
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

/** Reads the stream until `signal` aborts, reconnecting with exponential backoff after a drop. */
async function followStream(
  connection: Connection,
  signal: AbortSignal,
  onEvent: (event: StreamEvent) => void,
): Promise<void> {
  const ca = connection.caPath === undefined ? undefined : fs.readFileSync(connection.caPath, 'utf8');
  const { Agent } = commonJsExports(await import('undici'));
  const dispatcher = new Agent({
    connect: { ...(ca === undefined ? {} : { ca }), timeout: CONNECT_TIMEOUT_MS },
    bodyTimeout: IDLE_TIMEOUT_MS,
  });
  const origin = new URL(connection.url).origin;
  let delay = RETRY_FIRST_MS;
  let droppedAt: string | undefined;
  try {
    while (!signal.aborted) {
      let reason = 'the server ended the stream';
      try {
        await readStream(
          { dispatcher, origin, token: connection.token, signal },
          {
            onOpen: () => {
              // The server does not replay: after a drop, say where to find what happened in between.
              process.stderr.write(
                droppedAt === undefined
                  ? `murm: watching alarm changes at ${origin}; Ctrl-C stops\n`
                  : `murm: alarm stream reconnected; changes since ${droppedAt}: murm event list --since ${droppedAt}\n`,
              );
              droppedAt = undefined;
              delay = RETRY_FIRST_MS;
            },
            onEvent,
          },
        );
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof AppError && !RETRYABLE_CODES.has(error.code)) throw error;
        reason = error instanceof Error ? describe(error) : String(error);
      }
      if (signal.aborted) return;
      droppedAt ??= new Date().toISOString();
      process.stderr.write(`murm: alarm stream lost (${reason}); reconnecting in ${delay / 1000} s\n`);
      await sleep(delay, undefined, { signal }).catch(() => undefined);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  } finally {
    await dispatcher.destroy();
  }
}

/** One connection: resolves when the server ends the stream, throws when it fails or is refused. */
async function readStream(
  request: {
    dispatcher: Dispatcher;
    origin: string;
    token: string | undefined;
    signal: AbortSignal;
  },
  handlers: { onOpen: () => void; onEvent: (event: StreamEvent) => void },
): Promise<void> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
  const response = await request.dispatcher.request({
    origin: request.origin,
    path: STREAM_PATH,
    method: 'GET',
    headers,
    signal: request.signal,
  });
  if (response.statusCode !== 200) throw responseError(response.statusCode, await response.body.text());
  handlers.onOpen();
  const parser = new EventStreamParser(handlers.onEvent);
  response.body.setEncoding('utf8');
  for await (const chunk of response.body) parser.push(chunk as string);
}

/**
 * The `text/event-stream` format: `field: value` lines, a blank line dispatches the event, lines
 * starting with `:` are comments (keep-alives). Chunks may split lines anywhere.
 */
class EventStreamParser {
  private buffer = '';
  private type = '';
  private id: string | undefined;
  private data: string[] = [];

  constructor(private readonly onEvent: (event: StreamEvent) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    let end = this.buffer.indexOf('\n');
    while (end >= 0) {
      const line = this.buffer.slice(0, end).replace(/\r$/, '');
      this.buffer = this.buffer.slice(end + 1);
      this.line(line);
      end = this.buffer.indexOf('\n');
    }
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\u0000')) this.id = value;
  }

  private dispatch(): void {
    if (this.data.length > 0) {
      this.onEvent({
        type: this.type === '' ? 'message' : this.type,
        id: this.id,
        data: this.data.join('\n'),
      });
    }
    this.type = '';
    this.data = [];
  }
}

/** The change an event reports; undefined (with a warning) for an event this CLI does not understand. */
function toChangeLine(event: StreamEvent): AlarmChangeLine | undefined {
  const change = CHANGES.find((kind) => kind === event.type);
  if (change === undefined) return undefined;
  try {
    return { change, eventSeq: Number(event.id), alarm: JSON.parse(event.data) as AlarmView };
  } catch {
    process.stderr.write(`murm: warning: skipped a "${event.type}" event whose data is not JSON\n`);
    return undefined;
  }
}

function matches(alarm: AlarmView, flags: WatchFlags): boolean {
  return (
    (flags.alarmId === undefined || alarm.alarmId === flags.alarmId) &&
    (flags.entity === undefined || alarm.entityInstanceId.startsWith(flags.entity)) &&
    (flags.severity === undefined || alarm.severity === flags.severity)
  );
}

/** How each change is printed: a line for people, a JSON line or a YAML document for scripts. */
async function changeWriter(format: OutputFormat): Promise<(line: AlarmChangeLine) => void> {
  if (format === 'json') return (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
  if (format === 'yaml') {
    const { stringify } = await import('yaml');
    // One document per change, so a reader can parse the stream as it comes.
    return (line) => process.stdout.write(`---\n${stringify(line)}`);
  }
  return ({ change, alarm }) => {
    // A cleared alarm keeps the time it was last raised; the clear itself happens now.
    const time = change === 'cleared' ? new Date().toISOString() : alarm.timestamp;
    const fields = [time, change.padEnd(7), alarm.alarmId, alarm.entityInstanceId, alarm.severity.padEnd(8)];
    process.stdout.write(`${[...fields, alarm.reasonText.replaceAll(/[\r\n\t]+/g, ' ')].join('  ')}\n`);
  };
}

function responseError(status: number, text: string): AppError {
  try {
    const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (
      typeof error?.code === 'string' &&
      Object.hasOwn(HTTP_STATUS, error.code) &&
      typeof error.message === 'string'
    )
      return new AppError(error.code as ErrorCode, error.message);
  } catch {
    // Not an API error body; described by its status below.
  }
  const code = Object.entries(HTTP_STATUS).find(([, mapped]) => mapped === status)?.[0] as
    | ErrorCode
    | undefined;
  const fallback = status >= 500 ? 'unavailable' : 'invalid_input';
  return new AppError(code ?? fallback, `the alarm stream answered HTTP ${status}`);
}

function describe(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${error.message} (${code})` : error.message;
}
