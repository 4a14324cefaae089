import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { detectLinuxptpVersion } from './ptp-linuxptp.js';

describe('detectLinuxptpVersion', () => {
  let dir: string;
  const script = async (name: string, body: string) => {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'murm-ptp4l-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('reads the version ptp4l -v prints, on stdout or stderr', async () => {
    assert.equal(await detectLinuxptpVersion(await script('v3', 'echo 3.1.1')), '3.1.1');
    assert.equal(await detectLinuxptpVersion(await script('v4', 'echo v4.2 >&2; exit 1')), '4.2');
  });

  test('is null without ptp4l or without a version in its output', async () => {
    assert.equal(await detectLinuxptpVersion(join(dir, 'missing')), null);
    assert.equal(await detectLinuxptpVersion(await script('odd', 'echo "ptp4l: invalid option"')), null);
  });
});
