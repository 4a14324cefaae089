import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CliSession } from './helpers/cli-session.js';
import {
  type AdminApi,
  activePtpAlarms,
  enrollController0,
  openAdminSession,
  untilController0Ready,
} from './helpers/controller-agent.js';
import { type AgentProcess, eventually, makeTempDir } from './helpers/processes.js';

const ADMIN_PASSWORD = 'Ptp-OsClock-Pass-1';
const HOST = 'controller-0';
/** Unique per run: the rendered ptp4l socket is `/var/run/ptp4l-<instance>`, shared by every test process. */
const PTP4L = `oc${process.pid}`;
const PHC2SYS = `os${process.pid}`;
const PROCESS_ALARM = `host=${HOST}.instance=${PHC2SYS}.ptp`;
const NO_SOURCE = `host=${HOST}.phc2sys=${PHC2SYS}.phc2sys=no-source-clock`;

const LINUXPTP_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin'];
const phc2sysPath = LINUXPTP_DIRS.map((dir) => path.join(dir, 'phc2sys')).find((file) => existsSync(file));
const skipReason =
  phc2sysPath === undefined ? 'phc2sys (linuxptp) is not installed; install linuxptp' : undefined;
if (skipReason !== undefined) {
  if (process.env.CI === 'true')
    throw new Error(`the os-clock agent test must run in CI but cannot: ${skipReason}`);
  console.log(`skipping the os-clock agent test: ${skipReason}`);
}

type OsClockView = {
  sourceInstance: string | null;
  phcInterface: string | null;
  phcOffsetNs: number | null;
  phcError: string | null;
};
type HostStatus = {
  hostname: string;
  osClock?: string | null;
  instances: {
    instance: string;
    service: string;
    status: { state: string; isRunning: boolean; osClock: OsClockView | null } | null;
  }[];
};

/**
 * A real controller and a real agent for controller-0 with a ptp4l and a phc2sys instance. No PHC
 * exists here, so the os clock can never lock: the test shows what can be real — the agent finding
 * (or not) the phc2sys process that runs the file it wrote, the real phc_ctl failing on an interface
 * without a PHC, and the controller's alarms and os-clock state following both. phc2sys runs with
 * `-a` only (no `-r`) on a socket no ptp4l serves, so it waits for ptp4l and never touches a clock.
 */
describe('os clock from a real agent and a real phc2sys', { skip: skipReason ?? false }, () => {
  let session: CliSession;
  let api: AdminApi;
  let agent: AgentProcess | undefined;
  let phc2sys: ChildProcess | undefined;
  const root = makeTempDir('ptp-osclock-root');

  const hostStatus = async () => (await api('GET', `/v1/hosts/${HOST}/ptp/status`)) as HostStatus;
  const phcStatus = async () =>
    (await hostStatus()).instances.find((entry) => entry.instance === PHC2SYS)?.status ?? null;
  const activeAlarms = async () => {
    return (await activePtpAlarms(api, HOST))
      .filter((alarm) => alarm.entityInstanceId.includes(`=${PHC2SYS}.`))
      .map((alarm) => `${alarm.entityInstanceId}:${alarm.severity}`)
      .sort();
  };
  const waitFor = <T>(what: string, check: () => Promise<T | undefined>) =>
    eventually(what, check, 15_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${agent?.output()}`);
    });
  const stopPhc2sys = () =>
    new Promise<void>((resolve) => {
      const child = phc2sys;
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });

  before(async () => {
    ({ session, api } = await openAdminSession('ptp-osclock', ADMIN_PASSWORD));
    agent = await enrollController0({ session, api }, { root, args: ['--ptp-poll-interval-ms', '200'] });
    await untilController0Ready(api);
  });

  after(async () => {
    await stopPhc2sys();
    await agent?.stop();
    await session?.server.stop();
  });

  it('reports a configured phc2sys that does not run, with the process alarm and a FREERUN os clock', async () => {
    await api('POST', '/v1/ptp/instances', { name: PTP4L, service: 'ptp4l' });
    await api('POST', '/v1/ptp/interfaces', { name: `${PTP4L}if`, instance: PTP4L });
    await api('POST', `/v1/hosts/${HOST}/ptp-instances`, { instance: PTP4L });
    await api('POST', `/v1/hosts/${HOST}/ptp-interfaces`, { ifname: 'eno1', ptpInterface: `${PTP4L}if` });
    await api('POST', '/v1/ptp/instances', { name: PHC2SYS, service: 'phc2sys' });
    await api('POST', `/v1/hosts/${HOST}/ptp-instances`, { instance: PHC2SYS });
    await api('POST', '/v1/ptp:apply', {});
    const stopped = await waitFor('phc2sys reported not running', async () => {
      const status = await phcStatus();
      return status?.isRunning === false ? status : undefined;
    });
    assert.equal(stopped.state, 'FREERUN');
    assert.equal((await hostStatus()).osClock, 'FREERUN');
    assert.deepEqual(
      await waitFor('the process alarm', async () => {
        const alarms = await activeAlarms();
        return alarms.length > 0 ? alarms : undefined;
      }),
      [`${PROCESS_ALARM}:major`],
    );
  });

  it('finds phc2sys running the file the agent wrote, reads the PHC with the real phc_ctl, and follows its exit', async () => {
    const config = path.join(root, 'etc', 'linuxptp', `${PHC2SYS}.conf`);
    assert.ok(existsSync(config), `the agent wrote ${config}`);
    phc2sys = spawn(phc2sysPath as string, ['-f', config, '-a'], { stdio: 'ignore' });
    const running = await waitFor('phc2sys reported running', async () => {
      const status = await phcStatus();
      return status?.isRunning ? status : undefined;
    });
    assert.equal(running.state, 'FREERUN');
    // eno1 comes from the inventory fixture: this machine has no such interface, let alone a PHC.
    assert.equal(running.osClock?.phcInterface, 'eno1');
    assert.match(running.osClock?.phcError ?? '', /No such device|does not have a PHC/);
    assert.equal(running.osClock?.sourceInstance, null);
    assert.deepEqual(
      await waitFor('the no-source alarms', async () => {
        const alarms = await activeAlarms();
        return alarms.some((alarm) => alarm.startsWith(NO_SOURCE)) ? alarms : undefined;
      }),
      [`${PROCESS_ALARM}=no-lock:major`, `${NO_SOURCE}:major`],
    );
    const table = await session.murm(['host', 'ptp', 'status', HOST]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`^${PHC2SYS} \\(phc2sys\\)\\s+FREERUN`, 'm'));
    assert.match(table.stdout, /os clock \(system clock disciplined by phc2sys\): FREERUN/);
    assert.match(table.stdout, /eno1: .*(No such device|does not have a PHC)/);

    await stopPhc2sys();
    await waitFor('phc2sys reported stopped again', async () => {
      const alarms = await activeAlarms();
      return alarms.length === 1 && alarms[0] === `${PROCESS_ALARM}:major` ? alarms : undefined;
    });
  });
});
