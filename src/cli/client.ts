import fs from 'node:fs';
import type { Dispatcher } from 'undici';
import { commonJsExports } from '../core/commonjs.js';
import { AppError, type ErrorCode } from '../core/errors.js';
import { HTTP_STATUS } from '../core/http/errors.js';

/** Where and as whom the CLI talks to the API. */
export interface ApiTarget {
  url: string;
  caPath?: string | undefined;
  token?: string | undefined;
}

type Query = Record<string, string | number | undefined>;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const CONNECT_TIMEOUT_MS = 10_000;
const RESPONSE_TIMEOUT_MS = 60_000;
const CA_HINT = 'pass --ca with the site CA file that "murm serve" printed (<data-dir>/pki/ca.crt)';
const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

/** A JSON client of the murm REST API over HTTPS that verifies the server with the site CA. */
export class ApiClient {
  private constructor(
    private readonly origin: string,
    private readonly caPath: string | undefined,
    private readonly token: string | undefined,
    private readonly dispatcher: Dispatcher,
  ) {}

  /** Opens a client; throws `invalid_input` for a bad URL or an unreadable CA file. Close it after use. */
  static async open(target: ApiTarget): Promise<ApiClient> {
    const origin = parseApiUrl(target.url);
    const ca = target.caPath === undefined ? undefined : readCa(target.caPath);
    // Loaded here, not at the top, so commands that never call the API (serve, --help) start faster.
    const { Agent } = commonJsExports(await import('undici'));
    const dispatcher = new Agent({
      connect: { ...(ca === undefined ? {} : { ca }), timeout: CONNECT_TIMEOUT_MS },
      headersTimeout: RESPONSE_TIMEOUT_MS,
      bodyTimeout: RESPONSE_TIMEOUT_MS,
    });
    return new ApiClient(origin, target.caPath, target.token, dispatcher);
  }

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.send<T>('GET', path, { query });
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.send<T>('POST', path, { body });
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>('PUT', path, { body });
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>('PATCH', path, { body });
  }

  delete(path: string): Promise<void> {
    return this.send<void>('DELETE', path, {});
  }

  /** Sends one request; error bodies become AppErrors with the server's code and message. */
  private async send<T>(
    method: Method,
    path: string,
    options: { body?: unknown; query?: Query },
  ): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Dispatcher.ResponseData;
    let text: string;
    try {
      response = await this.dispatcher.request({
        origin: this.origin,
        path: withQuery(path, options.query ?? {}),
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      });
      text = await response.body.text();
    } catch (error) {
      throw networkError(error, this.origin, this.caPath);
    }
    if (response.statusCode >= 400)
      throw responseError(response.statusCode, text, `${method} ${path}`, this.origin);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AppError(
        'internal',
        `${this.origin} answered ${method} ${path} with something other than JSON; is it a murm server?`,
      );
    }
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

/** The origin of an API URL; throws `invalid_input` unless it is https (tokens never travel in clear text). */
function parseApiUrl(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'https:') {
    throw new AppError('invalid_input', `--url "${value}" is not an https:// URL like https://HOST:7443`, {
      field: 'url',
    });
  }
  return url.origin;
}

function readCa(caPath: string): string {
  try {
    return fs.readFileSync(caPath, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new AppError('invalid_input', `cannot read the CA file "${caPath}" (${reason}); ${CA_HINT}`, {
      field: 'ca',
    });
  }
}

function withQuery(path: string, query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, String(value));
  }
  const search = params.toString();
  return search === '' ? path : `${path}?${search}`;
}

function responseError(status: number, text: string, request: string, origin: string): AppError {
  const body = parseJson(text) as
    | { error?: { code?: unknown; message?: unknown; details?: unknown } }
    | undefined;
  const error = body?.error;
  if (error && isErrorCode(error.code) && typeof error.message === 'string') {
    const details =
      typeof error.details === 'object' && error.details !== null
        ? (error.details as Record<string, unknown>)
        : {};
    return new AppError(error.code, error.message, details);
  }
  return new AppError(
    codeOfStatus(status),
    `${origin} answered HTTP ${status} to ${request}; is it a murm server?`,
    {
      status,
    },
  );
}

function codeOfStatus(status: number): ErrorCode {
  const match = Object.entries(HTTP_STATUS).find(([, mapped]) => mapped === status);
  if (match) return match[0] as ErrorCode;
  return status >= 500 ? 'unavailable' : 'internal';
}

function isErrorCode(value: unknown): value is ErrorCode {
  // HTTP_STATUS has every error code as a key (the compiler checks that), so it doubles as the list.
  return typeof value === 'string' && Object.hasOwn(HTTP_STATUS, value);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Turns a connection or TLS failure into one line that says what to do. */
function networkError(error: unknown, origin: string, caPath: string | undefined): AppError {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new AppError(
      'unauthenticated',
      `the TLS certificate of ${origin} is not issued for "${new URL(origin).hostname}" (${code}); use the host name or address the server certificate names, and ${CA_HINT}`,
      { code },
    );
  }
  if (code !== undefined && TLS_TRUST_CODES.has(code)) {
    const cause = caPath === undefined ? 'no --ca was given' : `it is not signed by the CA in "${caPath}"`;
    return new AppError(
      'unauthenticated',
      `cannot verify the TLS certificate of ${origin} (${code}: ${cause}); ${CA_HINT}`,
      {
        code,
      },
    );
  }
  const reason = networkReason(code, origin);
  return new AppError('unavailable', `cannot reach ${origin}: ${reason ?? message}`, { code: code ?? null });
}

function networkReason(code: string | undefined, origin: string): string | undefined {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused — is "murm serve" running?';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host "${new URL(origin).hostname}" not found — check --url`;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `no connection within ${CONNECT_TIMEOUT_MS / 1000} s — is "murm serve" running and reachable from here?`;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return `no answer within ${RESPONSE_TIMEOUT_MS / 1000} s — the server may be overloaded; try again`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the host — check --url and the network';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return 'the connection was closed — is --url the HTTPS address "murm serve" printed?';
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return 'TLS handshake failed — is --url the HTTPS address "murm serve" printed?';
    default:
      return undefined;
  }
}

/** The error code of a socket/TLS error, also when undici wraps it or Node aggregates several attempts. */
function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  // The innermost code is the most specific: undici's socket error wraps ECONNRESET, for example.
  const inner = errorCode(cause) ?? (Array.isArray(errors) ? errorCode(errors[0]) : undefined);
  return inner ?? (typeof code === 'string' ? code : undefined);
}
