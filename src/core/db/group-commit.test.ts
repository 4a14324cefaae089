import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupCommit } from './group-commit.js';

test('writes everything added in one turn as one group, in order', async () => {
  const groups: number[][] = [];
  const commits = new GroupCommit<number>(async (items) => {
    groups.push(items);
  });
  await Promise.all([commits.add(1), commits.add(2), commits.add(3)]);
  await commits.add(4);
  assert.deepEqual(groups, [[1, 2, 3], [4]]);
});

test('starts a group only after the previous group is written', async () => {
  const log: string[] = [];
  let release: () => void = () => {};
  const commits = new GroupCommit<string>(async (items) => {
    log.push(`start ${items.join(',')}`);
    if (items.includes('a')) await new Promise<void>((resolve) => (release = resolve));
    log.push(`end ${items.join(',')}`);
  });
  const first = commits.add('a');
  await new Promise((resolve) => setImmediate(resolve));
  const second = commits.add('b');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(log, ['start a']);
  release();
  await Promise.all([first, second]);
  assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b']);
});

test('rejects every item of a failed group and keeps working afterwards', async () => {
  let shouldFail = true;
  const commits = new GroupCommit<number>(async () => {
    if (shouldFail) throw new Error('disk full');
  });
  const results = await Promise.allSettled([commits.add(1), commits.add(2)]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  shouldFail = false;
  await commits.add(3);
});
