import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { connect, type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { invalidInput } from '../core/errors.js';
import { type InspectResult, inspectDer } from './inspect.js';

/** The files a path source names, and the directories or links under it that could not be read. */
export type PathExpansion = { files: string[]; skipped: string[] } | { error: string };

const CERT_EXTENSIONS = /\.(?:pem|crt|cer|der)$/i;
const MAX_FILES = 1_000_000;
const WALK_CONCURRENCY = 32;
const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/;

interface WalkRules {
  /** Whether to enter a directory `depth` levels below the root (1 = a child of the root). */
  shouldEnter(name: string, depth: number): boolean;
  /** Whether a file, by its `/`-joined path relative to the root, belongs to the source. */
  shouldKeep(relative: string): boolean;
  maxFiles: number;
}

interface Pending {
  path: string;
  /** The path with every link resolved, to recognise a link back to an ancestor. */
  real: string;
  relative: string;
  depth: number;
}

/**
 * Expands a path source: a file; a directory, recursively, keeping `.pem`, `.crt`, `.cer`, `.der` files;
 * or a glob where `*` and `?` match within one path segment and a `**` segment matches any number of
 * directories (every matching file is kept, whatever its extension). Symbolic links are followed, each
 * directory entered once. Never throws for what is on disk; throws `invalid_input` for an empty target.
 */
export async function expandPathSource(
  target: string,
  options: { maxFiles?: number } = {},
): Promise<PathExpansion> {
  if (target.trim() === '' || target.includes('\u0000')) {
    throw invalidInput(
      'target',
      `path "${target}" is empty or holds a NUL character; give a file, directory or glob`,
    );
  }
  const maxFiles = options.maxFiles ?? MAX_FILES;
  if (/[*?]/.test(target)) return expandGlob(target, maxFiles);
  let stats: Awaited<ReturnType<typeof stat>>;
  try {
    stats = await stat(target);
  } catch (error) {
    return { error: statErrorMessage(target, error) };
  }
  if (stats.isFile()) return { files: [target], skipped: [] };
  if (!stats.isDirectory()) return { error: `"${target}" is neither a file nor a directory` };
  return walk(target, {
    shouldEnter: () => true,
    shouldKeep: (relative) => CERT_EXTENSIONS.test(relative),
    maxFiles,
  });
}

async function expandGlob(pattern: string, maxFiles: number): Promise<PathExpansion> {
  const segments = pattern.split('/');
  const firstWild = segments.findIndex((segment) => /[*?]/.test(segment));
  const base = segments.slice(0, firstWild).join('/') || (pattern.startsWith('/') ? '/' : '.');
  const rest = segments.slice(firstWild).filter((segment) => segment !== '');
  const globstar = rest.indexOf('**');
  const segmentMatchers = rest.map((segment) => new RegExp(`^${segmentSource(segment)}$`));
  const whole = new RegExp(`^${globSource(rest)}$`);
  try {
    if (!(await stat(base)).isDirectory()) return { files: [], skipped: [] };
  } catch {
    return { files: [], skipped: [] };
  }
  return walk(base, {
    // Before the first `**`, a directory must match its own segment; without one, depth is bounded too.
    shouldEnter: (name, depth) =>
      globstar < 0
        ? depth < rest.length && (segmentMatchers[depth - 1]?.test(name) ?? false)
        : depth > globstar || (segmentMatchers[depth - 1]?.test(name) ?? false),
    shouldKeep: (relative) => whole.test(relative),
    maxFiles,
  });
}

function segmentSource(segment: string): string {
  return segment.replace(/[.+^${}()|[\]\\]|\*+|\?/g, (token) =>
    token === '?' ? '[^/]' : token.startsWith('*') ? '[^/]*' : `\\${token}`,
  );
}

function globSource(segments: readonly string[]): string {
  return segments
    .map((segment, i) => {
      const isLast = i === segments.length - 1;
      if (segment === '**') return isLast ? '.*' : '(?:[^/]+/)*';
      return isLast ? segmentSource(segment) : `${segmentSource(segment)}/`;
    })
    .join('');
}

/**
 * Walks a directory tree breadth-first with a bounded number of directories read at once. Loops come
 * only from symbolic links, so only a link is resolved: it is skipped when it leads to an ancestor, into
 * the tree itself (walked anyway) or to a directory already entered through another link.
 */
async function walk(root: string, rules: WalkRules): Promise<PathExpansion> {
  const files: string[] = [];
  const skipped: string[] = [];
  let rootReal: string;
  try {
    rootReal = await realpath(root);
  } catch (error) {
    return { error: statErrorMessage(root, error) };
  }
  const linked = new Set<string>();
  const queue: Pending[] = [{ path: root, real: rootReal, relative: '', depth: 0 }];
  let isOverLimit = false;

  const followLink = async (
    path: string,
    parent: Pending,
  ): Promise<{ real: string; isDirectory: boolean; isFile: boolean } | undefined> => {
    try {
      const real = await realpath(path);
      const target = await stat(real);
      if (!target.isDirectory()) return { real, isDirectory: false, isFile: target.isFile() };
      const isLoopOrSeen = isWithin(parent.real, real) || isWithin(real, rootReal) || linked.has(real);
      linked.add(real);
      return isLoopOrSeen ? undefined : { real, isDirectory: true, isFile: false };
    } catch {
      skipped.push(`${path}: broken link`);
      return undefined;
    }
  };

  const visit = async (dir: Pending): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir.path, { withFileTypes: true });
    } catch (error) {
      skipped.push(`${dir.path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
      return;
    }
    for (const entry of entries) {
      // Plain concatenation: path.join normalises every time, which shows at 100,000 entries.
      const path = childPath(dir.path, entry.name);
      const relative = dir.relative === '' ? entry.name : `${dir.relative}/${entry.name}`;
      let real = childPath(dir.real, entry.name);
      let isDirectory = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await followLink(path, dir);
        if (target === undefined) continue;
        ({ real, isDirectory, isFile } = target);
      }
      if (isDirectory && rules.shouldEnter(entry.name, dir.depth + 1)) {
        queue.push({ path, real, relative, depth: dir.depth + 1 });
      } else if (isFile && rules.shouldKeep(relative)) {
        files.push(path);
        if (files.length > rules.maxFiles) isOverLimit = true;
      }
    }
  };

  await new Promise<void>((resolve) => {
    let active = 0;
    const pump = (): void => {
      while (active < WALK_CONCURRENCY && !isOverLimit) {
        const next = queue.shift();
        if (next === undefined) break;
        active++;
        void visit(next).finally(() => {
          active--;
          pump();
        });
      }
      if (active === 0) resolve();
    };
    pump();
  });
  if (isOverLimit) {
    return { error: `more than ${rules.maxFiles} files under "${root}"; narrow the path or use a glob` };
  }
  return { files: files.sort(), skipped: skipped.sort() };
}

function childPath(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/** True when `path` is `ancestor` or lies below it. */
function isWithin(path: string, ancestor: string): boolean {
  return path === ancestor || path.startsWith(ancestor.endsWith('/') ? ancestor : `${ancestor}/`);
}

function statErrorMessage(path: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `path "${path}" not found; check the path`;
  if (code === 'EACCES' || code === 'EPERM') return `permission denied reading "${path}"`;
  if (code === 'ENOTDIR') return `a parent of "${path}" is not a directory; check the path`;
  return `cannot read "${path}" (${code ?? (error as Error).message})`;
}

/** Splits `host:port` or `[ipv6]:port`; throws `invalid_input` for anything else. */
export function parseHostPort(target: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(target) ?? /^([^:[\]]+):(\d{1,5})$/.exec(target);
  const host = match?.[1] ?? '';
  const port = Number(match?.[2]);
  const isHostValid = target.startsWith('[') ? isIP(host) === 6 : HOST_NAME.test(host);
  if (!isHostValid || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw invalidInput(
      'target',
      `endpoint "${target}" is not host:port; use e.g. "registry.local:443", "10.0.0.5:6443" or "[fd00::1]:443"`,
      { value: target },
    );
  }
  return { host, port };
}

/**
 * Connects to a TLS endpoint and reads the chain it presents, leaf first, without judging trust (an
 * expired or self-signed chain is what monitoring must see). Throws `invalid_input` for a malformed
 * target; answers `{ error }` when the endpoint cannot be reached or does not speak TLS.
 */
export async function fetchEndpointChain(
  hostPort: string,
  options: { timeoutMs: number; servername?: string },
): Promise<InspectResult> {
  const { host, port } = parseHostPort(hostPort);
  const label = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const servername = options.servername ?? (isIP(host) === 0 ? host : undefined);
  return new Promise<InspectResult>((resolve) => {
    let socket: TLSSocket;
    try {
      socket = connect({
        host,
        port,
        rejectUnauthorized: false,
        ...(servername === undefined ? {} : { servername }),
      });
    } catch (error) {
      resolve({ error: `TLS connection to ${label} failed: ${(error as Error).message}` });
      return;
    }
    const finish = (result: InspectResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () =>
        finish({
          error: `timed out after ${options.timeoutMs} ms waiting for a TLS handshake with ${label}`,
        }),
      options.timeoutMs,
    );
    socket.once('secureConnect', () => finish(chainOf(socket.getPeerCertificate(true), label)));
    socket.once('error', (error) => finish({ error: connectErrorMessage(error, host, label) }));
    socket.once('close', () =>
      finish({ error: `${label} closed the connection before the TLS handshake ended` }),
    );
  });
}

function chainOf(peer: DetailedPeerCertificate | undefined, label: string): InspectResult {
  const ders: Buffer[] = [];
  const seen = new Set<string>();
  // Node links each certificate to its issuer; a self-signed root links to itself.
  for (
    let cert = peer;
    cert?.raw !== undefined && !seen.has(cert.fingerprint256);
    cert = cert.issuerCertificate
  ) {
    seen.add(cert.fingerprint256);
    ders.push(cert.raw);
  }
  if (ders.length === 0) return { error: `${label} presented no certificate` };
  return inspectDer(ders, label);
}

function connectErrorMessage(error: NodeJS.ErrnoException, host: string, label: string): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${label}; check that the service listens there`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host "${host}" not found; check the name and DNS`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${label} is unreachable; check the network route`;
    case 'ECONNRESET':
      return `${label} reset the connection during the TLS handshake; check that it speaks TLS`;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
      return `${label} does not speak TLS; check the port`;
    default:
      return `TLS connection to ${label} failed: ${error.message}`;
  }
}
