import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT_CODES } from '../src/cli/program.js';
import type { AlarmSummary, AlarmView } from '../src/fault/model.js';
import { type CliSession, openCliSession } from './helpers/cli-session.js';
import { type CliResult, REPO_ROOT, type ServerProcess, startServer } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Secret-Pass-123';
const WAIT_MS = 30_000;
interface EventView {
  seq: number;
  uuid: string;
  eventId: string;
  state: string;
  entityInstanceId: string;
  severity: string;
}

interface ChangeLine {
  change: string;
  eventSeq: number;
  alarm: AlarmView;
}

let server: ServerProcess;
let session: CliSession;

before(async () => {
  session = await openCliSession('cli-alarms', ADMIN_PASSWORD);
  server = session.server;
});

after(async () => {
  await server.stop();
});

function murm(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return session.murm(args, env);
}

function json<T>(args: string[]): Promise<T> {
  return session.json<T>(args);
}

function raise(
  alarmId: string,
  entity: string,
  severity: string,
): Promise<{ change: string; alarm: AlarmView }> {
  return json([
    'alarm',
    'raise',
    '--alarm-id',
    alarmId,
    '--entity',
    entity,
    '--severity',
    severity,
    '--reason',
    `${alarmId} test`,
  ]);
}

/** `murm alarm watch` as a child process whose output a test can wait for. */
class Watcher {
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private output = { stdout: '', stderr: '' };

  constructor(args: string[]) {
    this.child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'murm.ts'), 'alarm', 'watch', ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...session.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.output.stdout += chunk.toString();
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.output.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Resolves with the first match of `pattern` in the stream, once it has been printed. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<RegExpExecArray> {
    const source = this.child[stream];
    assert.ok(source);
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.output[stream]);
        if (!match) return;
        clearTimeout(timer);
        source.off('data', check);
        resolve(match);
      };
      const timer = setTimeout(() => {
        source.off('data', check);
        reject(new Error(`no ${pattern} on ${stream} in ${WAIT_MS} ms:\n${JSON.stringify(this.output)}`));
      }, WAIT_MS);
      // Listeners run in order, so the output above already holds the chunk when check runs.
      source.on('data', check);
      check();
      void this.exited.then(() =>
        setImmediate(() => reject(new Error(`watch exited:\n${JSON.stringify(this.output)}`))),
      );
    });
  }

  stdoutLines(): string[] {
    return this.output.stdout.split('\n').filter((line) => line !== '');
  }

  stop(signal: NodeJS.Signals): Promise<number | null> {
    this.child.kill(signal);
    return this.exited;
  }
}

test('lists raised alarms most severe first and counts them in the summary', async () => {
  const [major, critical] = await Promise.all([
    raise('100.101', 'host=sort-0', 'major'),
    raise('100.103', 'host=sort-1', 'critical'),
  ]);
  assert.equal(major.change, 'raised');
  assert.equal(critical.change, 'raised');
  const listed = await json<AlarmView[]>(['alarm', 'list', '--entity', 'host=sort-']);
  assert.deepEqual(
    listed.map((alarm) => [alarm.uuid, alarm.severity]),
    [
      [critical.alarm.uuid, 'critical'],
      [major.alarm.uuid, 'major'],
    ],
  );
  const [table, summary, summaryTable, shown] = await Promise.all([
    murm(['alarm', 'list', '--severity', 'critical']),
    json<AlarmSummary>(['alarm', 'summary']),
    murm(['alarm', 'summary']),
    json<AlarmView>(['alarm', 'show', major.alarm.uuid]),
  ]);
  assert.match(table.stdout, /^UUID +ALARM ID +SEVERITY +ENTITY +REASON +TIME\n/);
  assert.match(
    table.stdout,
    new RegExp(`${critical.alarm.uuid} +100\\.103 +critical +host=sort-1 +100\\.103 test`),
  );
  assert.ok(summary.critical >= 1 && summary.major >= 1);
  assert.equal(summary.status, 'critical');
  assert.match(
    summaryTable.stdout,
    /^CRITICAL +MAJOR +MINOR +WARNING +STATUS\n\d+ +\d+ +\d+ +\d+ +critical\n$/,
  );
  assert.equal(shown.entityInstanceId, 'host=sort-0');
});

test('updates the active alarm of the same id and entity instead of raising another', async () => {
  const first = await raise('100.101', 'host=update-0', 'major');
  const second = await raise('100.101', 'host=update-0', 'critical');
  assert.equal(second.change, 'updated');
  assert.equal(second.alarm.uuid, first.alarm.uuid);
  assert.equal(second.alarm.severity, 'critical');
});

test('clears an alarm by uuid and by alarm id and entity', async () => {
  const [byUuid, byKey] = await Promise.all([
    raise('100.101', 'host=clear-0', 'major'),
    raise('100.101', 'host=clear-1', 'major'),
  ]);
  const first = await murm(['alarm', 'clear', byUuid.alarm.uuid]);
  assert.equal(first.code, EXIT_CODES.ok, first.stderr);
  assert.equal(first.stdout, `cleared alarm ${byUuid.alarm.uuid}\n`);
  const second = await murm(['alarm', 'clear', '--alarm-id', '100.101', '--entity', 'host=clear-1']);
  assert.equal(second.stdout, 'cleared alarm 100.101 on host=clear-1\n');
  const again = await murm(['alarm', 'clear', '--alarm-id', '100.101', '--entity', 'host=clear-1']);
  assert.equal(again.code, EXIT_CODES.ok, again.stderr);
  assert.equal(again.stdout, 'alarm 100.101 on host=clear-1 was not active; nothing to clear\n');
  assert.deepEqual(await json<AlarmView[]>(['alarm', 'list', '--entity', 'host=clear-']), []);
  const gone = await murm(['alarm', 'show', byKey.alarm.uuid]);
  assert.equal(gone.code, EXIT_CODES.notFound);
});

test('refuses a severity the catalog does not allow and an unknown alarm id with the usage exit code', async () => {
  const base = ['alarm', 'raise', '--entity', 'host=bad-0', '--reason', 'nope'];
  const severity = await murm([...base, '--alarm-id', '100.101', '--severity', 'minor']);
  assert.equal(severity.code, EXIT_CODES.usage);
  assert.equal(
    severity.stderr,
    'murm: alarm 100.101 does not allow severity "minor"; the catalog allows critical, major\n',
  );
  const unknown = await murm([...base, '--alarm-id', '999.999', '--severity', 'major']);
  assert.equal(unknown.code, EXIT_CODES.usage);
  assert.match(unknown.stderr, /^murm: [^\n]*"999\.999"[^\n]*\n$/);
});

test('reports an alarm uuid that is not active with the not-found exit code', async () => {
  const result = await murm(['alarm', 'show', 'nosuch-uuid']);
  assert.equal(result.code, EXIT_CODES.notFound);
  assert.match(result.stderr, /^murm: [^\n]*"nosuch-uuid" not found\n$/);
});

test('lists set and clear records of the event log newest first', async () => {
  const raised = await raise('100.101', 'host=event-0', 'major');
  const cleared = await murm(['alarm', 'clear', raised.alarm.uuid]);
  assert.equal(cleared.code, EXIT_CODES.ok, cleared.stderr);
  const events = await json<EventView[]>(['event', 'list', '--entity', 'host=event-0', '--since', '1h']);
  assert.deepEqual(
    events.map((event) => [event.state, event.eventId, event.severity]),
    [
      ['clear', '100.101', 'clear'],
      ['set', '100.101', 'major'],
    ],
  );
  assert.ok((events[0]?.seq ?? 0) > (events[1]?.seq ?? 0));
  const sets = await json<EventView[]>(['event', 'list', '--entity', 'host=event-0', '--state', 'set']);
  assert.deepEqual(
    sets.map((event) => event.uuid),
    [events[1]?.uuid],
  );
  const shown = await json<EventView>(['event', 'show', events[0]?.uuid ?? '']);
  assert.equal(shown.state, 'clear');
});

test('hides the alarms of a suppressed alarm id unless suppressed ones are asked for', async () => {
  const raised = await raise('100.101', 'host=suppress-0', 'major');
  const suppressed = await murm(['alarm', 'suppress', '100.101']);
  assert.equal(suppressed.stdout, 'suppressed alarm id 100.101\n');
  try {
    const [shown, all, listed] = await Promise.all([
      json<AlarmView[]>(['alarm', 'list', '--entity', 'host=suppress-0']),
      json<AlarmView[]>(['alarm', 'list', '--entity', 'host=suppress-0', '--include-suppressed']),
      json<{ alarmId: string }[]>(['alarm', 'suppressions', '--suppressed']),
    ]);
    assert.deepEqual(shown, []);
    assert.deepEqual(
      all.map((alarm) => [alarm.uuid, alarm.isSuppressed]),
      [[raised.alarm.uuid, true]],
    );
    assert.deepEqual(
      listed.map((item) => item.alarmId),
      ['100.101'],
    );
  } finally {
    const unsuppressed = await murm(['alarm', 'unsuppress', '100.101']);
    assert.equal(unsuppressed.code, EXIT_CODES.ok, unsuppressed.stderr);
  }
  assert.equal((await json<AlarmView[]>(['alarm', 'list', '--entity', 'host=suppress-0'])).length, 1);
});

test('watch prints one JSON line per change of the alarms it filters for and exits 0 on SIGINT', async () => {
  const watcher = new Watcher(['-o', 'json', '--entity', 'host=watch-0']);
  await watcher.waitFor('stderr', /watching alarm changes/);
  // Raised first: were it not filtered out, it would be the first line.
  await raise('100.101', 'host=other-0', 'major');
  const raised = await raise('100.101', 'host=watch-0', 'major');
  await watcher.waitFor('stdout', /\n/);
  await murm(['alarm', 'clear', raised.alarm.uuid]);
  await watcher.waitFor('stdout', /\n[^\n]+\n/);
  const lines = watcher.stdoutLines().map((line) => JSON.parse(line) as ChangeLine);
  assert.deepEqual(
    lines.map((line) => [line.change, line.alarm.uuid, line.alarm.entityInstanceId]),
    [
      ['raised', raised.alarm.uuid, 'host=watch-0'],
      ['cleared', raised.alarm.uuid, 'host=watch-0'],
    ],
  );
  assert.ok((lines[1]?.eventSeq ?? 0) > (lines[0]?.eventSeq ?? 0));
  assert.equal(await watcher.stop('SIGINT'), EXIT_CODES.ok);
});

test('watch reconnects after the server restarts and exits 0 on SIGTERM', async () => {
  const watcher = new Watcher([]);
  await watcher.waitFor('stderr', /watching alarm changes/);
  const port = new URL(server.url).port;
  assert.equal(await server.stop(), 0);
  await watcher.waitFor('stderr', /alarm stream lost/);
  server = await startServer({ dataDir: server.dataDir, args: ['--listen', `127.0.0.1:${port}`] });
  await watcher.waitFor('stderr', /alarm stream reconnected/);
  const raised = await raise('100.103', 'host=reconnect-0', 'critical');
  const [line] = await watcher.waitFor('stdout', /^.*\n/);
  assert.match(line, /^\S+ {2}raised {3}100\.103 {2}host=reconnect-0 {2}critical {2}100\.103 test\n$/);
  assert.equal(raised.change, 'raised');
  assert.equal(await watcher.stop('SIGTERM'), EXIT_CODES.ok);
});
