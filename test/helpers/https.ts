import fs from 'node:fs';
import https from 'node:https';

/** One HTTPS request to a real server, trusting only the given CA file. */
export function httpsRequest(
  url: string,
  options: { caPath: string; method?: string; token?: string; body?: unknown },
): Promise<{ status: number; body: unknown; text: string; headers: Record<string, unknown> }> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const request = https.request(
      url,
      {
        method: options.method ?? 'GET',
        ca: fs.readFileSync(options.caPath),
        agent: false,
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => {
          const isJson = String(response.headers['content-type'] ?? '').includes('json');
          resolve({
            status: response.statusCode ?? 0,
            text,
            body: isJson && text ? JSON.parse(text) : text,
            headers: response.headers,
          });
        });
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

/** Logs in over real HTTPS and returns the bearer token (asserting 201). */
export async function loginOverHttps(
  server: { url: string; caPath: string },
  username: string,
  password: string,
): Promise<string> {
  const response = await httpsRequest(`${server.url}/v1/auth/tokens`, {
    caPath: server.caPath,
    method: 'POST',
    body: { username, password },
  });
  if (response.status !== 201)
    throw new Error(`login of ${username} failed: ${response.status} ${response.text}`);
  return (response.body as { token: string }).token;
}

/** Raises an alarm on a running site as its admin (host=controller-0), over real HTTPS; returns the response. */
export async function raiseAlarmAsAdmin(
  site: { url: string; caPath: string },
  password: string,
  alarm: { alarmId: string; severity: string; reasonText: string },
): Promise<{ status: number; text: string }> {
  const token = await loginOverHttps(site, 'admin', password);
  return httpsRequest(`${site.url}/v1/alarms`, {
    caPath: site.caPath,
    method: 'POST',
    token,
    body: { entityInstanceId: 'host=controller-0', ...alarm },
  });
}
