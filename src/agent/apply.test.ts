import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { RenderedFile } from '../inventory/agent-protocol.js';
import { applyRenderedFiles, readAppliedRevision } from './apply.js';

let base: string;
let root: string;
let stateDir: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'murm-apply-'));
  root = join(base, 'root');
  stateDir = join(base, 'state');
  await mkdir(root);
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

function apply(revision: string, files: RenderedFile[]) {
  return applyRenderedFiles({ root, stateDir, revision, files });
}

/** Every entry under `dir`, recursively, as paths relative to it. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map(String).sort();
}

const KUBELET: RenderedFile = {
  path: 'etc/kubernetes/kubelet-config.yaml',
  mode: 0o644,
  content: 'cpuManagerPolicy: static\n',
};
const SECRET: RenderedFile = { path: 'etc/murm/secret.conf', mode: 0o600, content: 'key=value\n' };

describe('applyRenderedFiles', () => {
  it('writes each file under the root with its content and exact mode, creating parent directories', async () => {
    const result = await apply('r1', [KUBELET, SECRET]);

    assert.deepEqual(result, { written: [KUBELET.path, SECRET.path], removed: [] });
    assert.equal(await readFile(join(root, KUBELET.path), 'utf8'), KUBELET.content);
    assert.equal((await stat(join(root, KUBELET.path))).mode & 0o7777, 0o644);
    assert.equal((await stat(join(root, SECRET.path))).mode & 0o7777, 0o600);
    assert.equal((await stat(join(root, 'etc/kubernetes'))).isDirectory(), true);
    assert.equal(await readAppliedRevision(stateDir), 'r1');
  });

  it('leaves no temporary file behind', async () => {
    await apply('r1', [KUBELET, SECRET]);
    await apply('r2', [{ ...KUBELET, content: 'cpuManagerPolicy: none\n' }, SECRET]);

    const tree = [...(await listTree(root)), ...(await listTree(stateDir))];
    assert.deepEqual(
      tree.filter((path) => path.includes('murm-tmp') || path.endsWith('.tmp')),
      [],
    );
  });

  it('does not touch a file whose content and mode are already right', async () => {
    await apply('r1', [KUBELET]);
    const target = join(root, KUBELET.path);
    const past = new Date('2020-01-01T00:00:00Z');
    await utimes(target, past, past);

    const result = await apply('r2', [KUBELET]);

    assert.deepEqual(result.written, []);
    assert.equal((await stat(target)).mtime.getTime(), past.getTime());
    assert.equal(await readAppliedRevision(stateDir), 'r2');
  });

  it('rewrites a file whose mode or content drifted', async () => {
    await apply('r1', [KUBELET, SECRET]);
    await writeFile(join(root, KUBELET.path), 'edited by hand\n');

    const result = await apply('r1', [KUBELET, { ...SECRET, mode: 0o640 }]);

    assert.deepEqual(result.written, [KUBELET.path, SECRET.path]);
    assert.equal(await readFile(join(root, KUBELET.path), 'utf8'), KUBELET.content);
    assert.equal((await stat(join(root, SECRET.path))).mode & 0o7777, 0o640);
  });

  it('removes the files an earlier revision wrote that the new revision dropped', async () => {
    await apply('r1', [KUBELET, SECRET]);

    const result = await apply('r2', [KUBELET]);

    assert.deepEqual(result, { written: [], removed: [SECRET.path] });
    await assert.rejects(stat(join(root, SECRET.path)), { code: 'ENOENT' });
    assert.equal(await readFile(join(root, KUBELET.path), 'utf8'), KUBELET.content);
  });

  it('never removes files it did not write', async () => {
    await writeFile(join(root, 'operator-notes.txt'), 'mine\n');
    await apply('r1', [KUBELET]);
    await apply('r2', []);

    assert.deepEqual(await listTree(root), ['etc', 'etc/kubernetes', 'operator-notes.txt']);
  });

  const UNSAFE: [string, string, RegExp][] = [
    ['an absolute path', '/etc/passwd', /absolute/],
    ['a ".." segment', 'etc/../../outside', /"\.\."/],
    ['a leading ".."', '../outside', /"\.\."/],
    ['an empty path', '', /empty/],
    ['a NUL character', 'etc/a\0b', /NUL/],
    ['an empty segment', 'etc//hosts', /empty or "\." segment/],
    ['a "." segment', './etc/hosts', /empty or "\." segment/],
    ['the state directory', 'var/lib/murm-agent/agent.key', /state directory/],
  ];
  for (const [name, path, message] of UNSAFE) {
    it(`refuses ${name} and writes nothing at all`, async () => {
      stateDir = join(root, 'var/lib/murm-agent');
      await assert.rejects(apply('r1', [KUBELET, { path, mode: 0o644, content: 'x' }]), message);

      assert.deepEqual(await listTree(root), []);
      assert.equal(await readAppliedRevision(stateDir), null);
    });
  }

  it('refuses a path that leads outside the root through an existing symlink', async () => {
    const outside = join(base, 'outside');
    await mkdir(outside);
    await mkdir(join(root, 'etc'));
    await symlink(outside, join(root, 'etc/escape'));

    await assert.rejects(
      apply('r1', [KUBELET, { path: 'etc/escape/passwd', mode: 0o644, content: 'x' }]),
      /"etc\/escape" is a symlink that leads outside the agent root/,
    );

    assert.deepEqual(await readdir(outside), []);
    await assert.rejects(stat(join(root, KUBELET.path)), { code: 'ENOENT' });
  });

  it('refuses a target that is itself a symlink to a file outside the root', async () => {
    const outside = join(base, 'shadow');
    await writeFile(outside, 'original\n');
    await symlink(outside, join(root, 'shadow'));

    await assert.rejects(apply('r1', [{ path: 'shadow', mode: 0o644, content: 'x' }]), /symlink/);

    assert.equal(await readFile(outside, 'utf8'), 'original\n');
  });

  it('follows a symlink that stays inside the root', async () => {
    await mkdir(join(root, 'real'));
    await symlink(join(root, 'real'), join(root, 'alias'));

    await apply('r1', [{ path: 'alias/file', mode: 0o644, content: 'inside\n' }]);

    assert.equal(await readFile(join(root, 'real/file'), 'utf8'), 'inside\n');
  });

  it('reads no revision before the first apply or from an unreadable manifest', async () => {
    assert.equal(await readAppliedRevision(stateDir), null);
    await mkdir(stateDir);
    await writeFile(join(stateDir, 'applied.json'), '{not json');
    assert.equal(await readAppliedRevision(stateDir), null);
  });
});
