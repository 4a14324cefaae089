import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../../test/helpers/processes.js';
import { createLogger } from '../core/log.js';
import type { AgentFrame, PtpStatusPayload } from '../inventory/agent-protocol.js';
import { PhcCtlReader, type PhcReader, parsePhcCtlCompare } from './phc-reader.js';
import { isPhc2sysRunning } from './phc2sys-process.js';
import { PtpMonitors } from './ptp-monitors.js';

const LINUXPTP = ['/usr/sbin', '/sbin', '/usr/local/sbin'];
const find = (name: string) => LINUXPTP.map((dir) => join(dir, name)).find((path) => existsSync(path));
const PHC_CTL = find('phc_ctl');
const PHC2SYS = find('phc2sys');

/** A PHC is NIC hardware this machine does not have; the monitors' wiring is tested with this fake. */
class FakePhcReader implements PhcReader {
  compare(): Promise<number> {
    return Promise.resolve(-37_000_000_020);
  }
}

describe('parsePhcCtlCompare', () => {
  test('reads the offset phc_ctl cmp prints, with or without its prefix', () => {
    assert.equal(
      parsePhcCtlCompare('phc_ctl[1940.831]: offset from CLOCK_REALTIME is -37000000012ns\n'),
      -37_000_000_012,
    );
    assert.equal(parsePhcCtlCompare('offset from CLOCK_REALTIME is 250ns'), 250);
  });

  test("fails with phc_ctl's own message when it printed no offset", () => {
    assert.throws(
      () =>
        parsePhcCtlCompare(
          'phc_ctl[1940.845]: ioctl SIOCETHTOOL failed: No such device\nphc_ctl[1940.845]: unknown clock eth9: No such device\n',
        ),
      { message: 'ioctl SIOCETHTOOL failed: No such device; unknown clock eth9: No such device' },
    );
    assert.throws(() => parsePhcCtlCompare('\n'), { message: 'phc_ctl printed no offset' });
    assert.throws(() => parsePhcCtlCompare('offset from CLOCK_REALTIME is ns'), /offset from CLOCK_REALTIME/);
  });
});

describe('PhcCtlReader with the real phc_ctl', () => {
  test('reports that the loopback interface has no PHC', {
    skip: PHC_CTL ? false : 'phc_ctl (linuxptp) is not installed',
  }, async () => {
    // `cmp` only reads the clocks and needs no root; `lo` exists everywhere and never has a PHC.
    await assert.rejects(new PhcCtlReader(PHC_CTL ?? null).compare('lo'), {
      message: 'interface lo does not have a PHC',
    });
    await assert.rejects(new PhcCtlReader(PHC_CTL ?? null).compare('murm-none0'), /No such device/);
  });

  test('says so when phc_ctl is missing', async () => {
    await assert.rejects(new PhcCtlReader(null).compare('lo'), /phc_ctl is not installed/);
  });
});

describe('phc2sys process detection', {
  skip: PHC2SYS ? false : 'phc2sys (linuxptp) is not installed',
}, () => {
  let dir: string;
  const children: ChildProcess[] = [];

  /**
   * Starts the real phc2sys on `config`: `-a` without `-r` and a socket no ptp4l listens on, so it
   * waits for ptp4l forever ("Waiting for ptp4l...") and never touches a clock.
   */
  const startPhc2sys = async (config: string, style: 'split' | 'joined') => {
    await writeFile(config, `[global]\nuds_address ${join(dir, 'no-ptp4l.sock')}\nuse_syslog 0\n`);
    const args = style === 'split' ? ['-f', config, '-a'] : [`-f${config}`, '-a'];
    const child = spawn(PHC2SYS as string, args, { stdio: 'ignore' });
    children.push(child);
    await new Promise<void>((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    return child;
  };
  const stopChild = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'murm-phc2sys-'));
    await mkdir(join(dir, 'etc', 'linuxptp'), { recursive: true });
  });
  after(async () => {
    await Promise.all(children.map(stopChild));
    await rm(dir, { recursive: true, force: true });
  });

  test('finds phc2sys by the configuration its argv names, under an agent root too, until it exits', async () => {
    const name = `t${process.pid}`;
    const config = join(dir, 'etc', 'linuxptp', `${name}.conf`);
    assert.equal(await isPhc2sysRunning(config), false);
    const child = await startPhc2sys(config, 'split');
    assert.equal(await isPhc2sysRunning(config), true);
    // The directive names the host path; this agent's root is `dir`.
    assert.equal(await isPhc2sysRunning(`/etc/linuxptp/${name}.conf`), true);
    assert.equal(await isPhc2sysRunning(`/etc/linuxptp/x${name}.conf`), false);
    assert.equal(await isPhc2sysRunning(join(dir, 'etc', 'linuxptp', `${name}.con`)), false);
    await stopChild(child);
    assert.equal(await isPhc2sysRunning(config), false);
  });

  test('takes the joined -f<path> spelling, and not a process of another name', async () => {
    const config = join(dir, `joined-${process.pid}.conf`);
    const child = await startPhc2sys(config, 'joined');
    assert.equal(await isPhc2sysRunning(config), true);
    await stopChild(child);
    const other = spawn('sleep', ['30', '-f', config], { stdio: 'ignore' });
    children.push(other);
    await new Promise((resolve) => other.once('spawn', resolve));
    assert.equal(await isPhc2sysRunning(config), false);
  });

  test('the agent monitors send os-clock statuses in ptp-status frames', async () => {
    const name = `mon${process.pid}`;
    const config = join(dir, 'etc', 'linuxptp', `${name}.conf`);
    const frames: Extract<AgentFrame, { type: 'ptp-status' }>[] = [];
    const monitors = new PtpMonitors({
      hostname: 'w0',
      stateDir: dir,
      settings: { pollIntervalMs: 20 },
      logger: createLogger('silent'),
      send: (frame) => {
        if (frame.type === 'ptp-status') frames.push(frame);
      },
      phc: new FakePhcReader(),
    });
    const last = () => frames.at(-1)?.status;
    const conditions = (status: PtpStatusPayload | undefined) =>
      status?.alarms.map((alarm) => alarm.entityInstanceId.replace(/^host=w0\./, ''));
    try {
      // The source ptp4l instance is not monitored here (no directive), so it never counts as LOCKED.
      await monitors.apply([
        {
          kind: 'phc2sys',
          instance: name,
          configPath: `/etc/linuxptp/${name}.conf`,
          sources: [{ ptp4l: 'ptp1', interfaces: ['eno1'] }],
        },
      ]);
      await eventually('the not-running status', async () =>
        last()?.isRunning === false ? true : undefined,
      );
      assert.equal(frames[0]?.instance, name);
      assert.deepEqual(conditions(last()), [`instance=${name}.ptp`]);
      await startPhc2sys(config, 'split');
      await eventually('the running status', async () => (last()?.isRunning ? true : undefined));
      assert.deepEqual(conditions(last()), [
        `phc2sys=${name}.phc2sys=no-source-clock`,
        `instance=${name}.ptp=no-lock`,
      ]);
      assert.deepEqual(last()?.osClock, { phcInterface: 'eno1', phcOffsetNs: -37_000_000_020 });
      const current = monitors.currentFrames();
      assert.equal(current.length, 1);
      // Polls every 20 ms refresh observedAt without sending a frame (nothing changed): compare the rest.
      const withoutPollTime = (frame: AgentFrame | undefined) =>
        frame?.type === 'ptp-status'
          ? { ...frame, status: { ...frame.status, observedAt: undefined } }
          : frame;
      assert.deepEqual(withoutPollTime(current[0]), withoutPollTime(frames.at(-1)));
    } finally {
      await monitors.stop();
    }
  });
});
