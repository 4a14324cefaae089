import assert from 'node:assert/strict';
import path from 'node:path';
import { type CliSession, openCliSession } from './cli-session.js';
import { httpsRequest, loginOverHttps } from './https.js';
import { type AgentProcess, eventually, REPO_ROOT, startAgentProcess } from './processes.js';

const HOST = 'controller-0';
/** A recorded two-socket machine; its NICs are the ones the agent reports for controller-0. */
const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'hosts', 'two-socket-smt');

/** Calls the HTTP API as admin; asserts a 2xx answer and returns its body. */
export type AdminApi = (method: string, url: string, body?: unknown) => Promise<unknown>;

/** A real `murm serve` with a logged-in CLI session and the admin's API. */
export async function openAdminSession(
  name: string,
  adminPassword: string,
): Promise<{ session: CliSession; api: AdminApi }> {
  const session = await openCliSession(name, adminPassword);
  const token = await loginOverHttps(session.server, 'admin', adminPassword);
  const api: AdminApi = async (method, url, body) => {
    const response = await httpsRequest(`${session.server.url}${url}`, {
      caPath: session.server.caPath,
      method,
      token,
      body,
    });
    assert.ok(response.status < 300, `${method} ${url}: ${response.status} ${response.text}`);
    return response.body;
  };
  return { session, api };
}

/**
 * Starts the real agent of controller-0 (the host every new system has) on the two-socket fixture
 * with `root`; with `enrollmentToken` it enrolls, without it resumes from its state under `root`.
 */
export function startController0Agent(
  session: CliSession,
  options: { root: string; args: string[]; enrollmentToken?: string },
): AgentProcess {
  return startAgentProcess({
    url: session.server.url,
    caPath: session.server.caPath,
    root: options.root,
    ...(options.enrollmentToken === undefined ? {} : { token: options.enrollmentToken }),
    fixture: FIXTURE,
    args: options.args,
  });
}

/** Asks for controller-0's enrollment token and starts its agent with it. */
export async function enrollController0(
  admin: { session: CliSession; api: AdminApi },
  options: { root: string; args: string[] },
): Promise<AgentProcess> {
  const { token } = (await admin.api('POST', `/v1/hosts/${HOST}/enrollment-token`, {})) as { token: string };
  return startController0Agent(admin.session, { ...options, enrollmentToken: token });
}

/** Waits until controller-0 is online with its configuration applied. */
export async function untilController0Ready(api: AdminApi): Promise<void> {
  await eventually(`${HOST} online with its configuration applied`, async () => {
    const host = (await api('GET', `/v1/hosts/${HOST}`)) as { availability: string; configStatus: string };
    return host.availability !== 'offline' && host.configStatus === 'up-to-date' ? host : undefined;
  });
}

/** The active 100.119 (PTP) alarms of a host, as the API lists them. */
export async function activePtpAlarms(
  api: AdminApi,
  hostname: string,
): Promise<{ entityInstanceId: string; severity: string }[]> {
  const list = (await api(
    'GET',
    `/v1/alarms?entityInstance=${encodeURIComponent(`host=${hostname}`)}&limit=100`,
  )) as { items: { alarmId: string; entityInstanceId: string; severity: string }[] };
  return list.items.filter((alarm) => alarm.alarmId === '100.119');
}
