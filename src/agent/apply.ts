import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, mkdir, open, readFile, realpath, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { writeFileAtomic } from '../certs/site-pki.js';
import type { RenderedFile } from '../inventory/agent-protocol.js';

/** What `applied.json` in the state directory records: the last revision applied and the files it wrote. */
interface AppliedManifest {
  revision: string | null;
  files: string[];
}

const MANIFEST_FILE = 'applied.json';
const STATE_DIR_MODE = 0o700;
const PARENT_DIR_MODE = 0o755;
const MANIFEST_MODE = 0o600;

/**
 * Writes the files of one configuration revision under `root`, each atomically (temporary file in
 * the same directory, fsync, chmod, rename, fsync of the directory), and removes the files an earlier
 * revision wrote that this one no longer has. Files whose content and mode are already right are not
 * touched, so their mtime tells when they last really changed. Every path is checked before anything
 * is written; throws an Error naming the first unsafe one.
 */
export async function applyRenderedFiles(options: {
  root: string;
  stateDir: string;
  revision: string;
  files: readonly RenderedFile[];
}): Promise<{ written: string[]; removed: string[] }> {
  const { files, revision } = options;
  assertValidFiles(files);
  assertOutsideStateDir(options.root, options.stateDir, files);
  await mkdir(options.root, { recursive: true, mode: PARENT_DIR_MODE });
  const root = await realpath(options.root);
  for (const file of files) await assertInsideRoot(root, file.path);

  const previous = await readManifest(options.stateDir);
  const wanted = new Set(files.map((file) => file.path));
  const stale = previous.files.filter((path) => !wanted.has(path));
  const unrecorded = files.filter((file) => !previous.files.includes(file.path));
  // Record the new paths before writing them: if a write fails half-way, the next revision still
  // knows those files are ours and can remove them.
  if (unrecorded.length > 0) {
    await writeManifest(options.stateDir, {
      revision: previous.revision,
      files: [...previous.files, ...unrecorded.map((file) => file.path)],
    });
  }

  const written: string[] = [];
  for (const file of files) {
    if (await writeIfChanged(root, file)) written.push(file.path);
  }
  const removed: string[] = [];
  for (const path of stale) {
    if (await removeOwnFile(root, path)) removed.push(path);
  }
  await writeManifest(options.stateDir, { revision, files: [...wanted] });
  return { written, removed };
}

/** The revision recorded by the last successful apply; null before the first one or when the record is unreadable. */
export async function readAppliedRevision(stateDir: string): Promise<string | null> {
  return (await readManifest(stateDir)).revision;
}

/** Throws unless every path is relative, `/`-separated, free of `..`, and every mode a permission number. */
function assertValidFiles(files: readonly RenderedFile[]): void {
  const seen = new Set<string>();
  for (const file of files) {
    const problem = pathProblem(file.path);
    if (problem !== undefined) throw new Error(`refusing to apply rendered file "${file.path}": ${problem}`);
    if (seen.has(file.path)) throw new Error(`refusing to apply rendered file "${file.path}": listed twice`);
    seen.add(file.path);
    if (!Number.isInteger(file.mode) || file.mode < 0 || file.mode > 0o7777) {
      throw new Error(
        `refusing to apply rendered file "${file.path}": mode ${file.mode} is not within 0 to 0o7777`,
      );
    }
    if (typeof file.content !== 'string') {
      throw new Error(`refusing to apply rendered file "${file.path}": content is not text`);
    }
  }
}

/** The state directory (key, certificate, manifest) often lives under the root; no rendered file may replace them. */
function assertOutsideStateDir(root: string, stateDir: string, files: readonly RenderedFile[]): void {
  const state = resolve(stateDir);
  for (const file of files) {
    const target = resolve(root, file.path);
    if (target === state || target.startsWith(`${state}${sep}`)) {
      throw new Error(
        `refusing to apply rendered file "${file.path}": it is inside the agent state directory`,
      );
    }
  }
}

function pathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string' || path === '') return 'the path is empty';
  if (path.includes('\0')) return 'the path contains a NUL character';
  if (path.startsWith('/')) return 'the path is absolute; it must be relative to the agent root';
  const segments = path.split('/');
  if (segments.includes('..')) return 'the path climbs out of the agent root with ".."';
  if (segments.some((segment) => segment === '' || segment === '.')) {
    return 'the path has an empty or "." segment';
  }
  return undefined;
}

/**
 * Throws when `path` reaches outside `root` through a symlink that already exists on the way, the
 * last segment included: writing or reading through it would touch a file the controller does not own.
 */
async function assertInsideRoot(root: string, path: string): Promise<void> {
  let current = root;
  for (const segment of path.split('/')) {
    const next = join(current, segment);
    const stats = await lstatOptional(next);
    if (stats === undefined) return;
    if (!stats.isSymbolicLink()) {
      current = next;
      continue;
    }
    const target = await realpath(next).catch(() => undefined);
    if (target === undefined || !isInside(root, target)) {
      throw new Error(
        `refusing to apply rendered file "${path}": "${relative(root, next)}" is a symlink that leads outside the agent root`,
      );
    }
    current = target;
  }
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(sep) ? root : `${root}${sep}`);
}

/** Writes `file` unless it already has this content and mode; true when it wrote. */
async function writeIfChanged(root: string, file: RenderedFile): Promise<boolean> {
  const target = resolve(root, file.path);
  if (await isAlreadyApplied(target, file)) return false;
  const dir = dirname(target);
  await mkdir(dir, { recursive: true, mode: PARENT_DIR_MODE });
  const tmp = `${target}.murm-tmp-${randomBytes(6).toString('hex')}`;
  try {
    const handle = await open(tmp, 'wx', file.mode);
    try {
      await handle.writeFile(file.content, 'utf8');
      // The umask may have narrowed the mode at creation; set it exactly.
      await handle.chmod(file.mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, target);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
  return true;
}

async function isAlreadyApplied(target: string, file: RenderedFile): Promise<boolean> {
  const stats = await lstatOptional(target);
  if (stats === undefined || !stats.isFile() || (stats.mode & 0o7777) !== file.mode) return false;
  const wanted = Buffer.from(file.content, 'utf8');
  if (stats.size !== wanted.length) return false;
  return (await readFile(target)).equals(wanted);
}

/** Removes a file an earlier revision wrote; true when it was there. Paths that became unsafe are left alone. */
async function removeOwnFile(root: string, path: string): Promise<boolean> {
  if (pathProblem(path) !== undefined) return false;
  try {
    await assertInsideRoot(root, path);
  } catch {
    return false;
  }
  const target = resolve(root, path);
  try {
    await unlink(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  await syncDirectory(dirname(target));
  return true;
}

/** Makes a rename or unlink in `dir` durable: without it a power cut can bring the old entry back. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readManifest(stateDir: string): Promise<AppliedManifest> {
  let text: string;
  try {
    text = await readFile(join(stateDir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { revision: null, files: [] };
    throw error;
  }
  const parsed = parseJson(text) as Partial<AppliedManifest> | undefined;
  // An unreadable record only costs a full re-apply; it must not stop the agent.
  return {
    revision: typeof parsed?.revision === 'string' ? parsed.revision : null,
    files: Array.isArray(parsed?.files) ? parsed.files.filter((path) => typeof path === 'string') : [],
  };
}

async function writeManifest(stateDir: string, manifest: AppliedManifest): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: STATE_DIR_MODE });
  await writeFileAtomic(
    join(stateDir, MANIFEST_FILE),
    `${JSON.stringify(manifest, null, 2)}\n`,
    MANIFEST_MODE,
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function lstatOptional(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}
