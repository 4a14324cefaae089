import { createInterface, type Interface } from 'node:readline';
import { AppError } from '../core/errors.js';

type PasswordEnv = 'MURM_PASSWORD' | 'MURM_NEW_PASSWORD' | 'MURM_WEBHOOK_SECRET';

/** True when a person can answer prompts (stdin is a terminal). */
export function isInteractive(): boolean {
  return process.stdin.isTTY === true;
}

/**
 * A password: from the environment variable when set, else typed at the terminal without echo,
 * else the next line of stdin. Throws `invalid_input` when none of them gives one.
 */
export async function readPassword(prompt: string, envName: PasswordEnv): Promise<string> {
  const fromEnv = process.env[envName];
  if (fromEnv) return fromEnv;
  const value = isInteractive() ? await readHidden(prompt) : await nextStdinLine();
  if (!value) {
    throw new AppError(
      'invalid_input',
      `nothing given; type it at a terminal, pipe it on stdin, or set ${envName}`,
    );
  }
  return value;
}

/** A new password: `MURM_NEW_PASSWORD`, else typed twice at a terminal, else one line of stdin. */
export async function readNewPassword(username: string): Promise<string> {
  const password = await readPassword(`New password for "${username}": `, 'MURM_NEW_PASSWORD');
  if (process.env.MURM_NEW_PASSWORD || !isInteractive()) return password;
  if ((await readHidden('Repeat the new password: ')) !== password) {
    throw new AppError('invalid_input', 'the two passwords differ; run the command again');
  }
  return password;
}

/** Asks a yes/no question at the terminal; only "y" or "yes" is a yes. */
export async function confirm(question: string): Promise<boolean> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await new Promise<string>((resolve) => terminal.question(`${question} [y/N] `, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    terminal.close();
  }
}

/** Reads a line at the terminal in raw mode, echoing nothing. */
function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Raw mode first: whatever is typed as soon as the prompt shows must not echo.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: AppError) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      // Arrow and function keys arrive as escape sequences in one chunk; they are not part of a password.
      if (chunk.startsWith('\u001b')) return;
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003' || (char === '\u0004' && value === ''))
          return finish(new AppError('invalid_input', 'cancelled'));
        if (char === '\u0004') return finish();
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else if (char >= ' ') value += char;
      }
    };
    stdin.on('data', onData);
  });
}

let stdinLines: StdinLines | undefined;

/** The next line of a piped stdin, or undefined at its end. */
function nextStdinLine(): Promise<string | undefined> {
  stdinLines ??= new StdinLines();
  return stdinLines.next();
}

/** Hands out stdin one line at a time, and pauses it in between so it keeps no process alive. */
class StdinLines {
  private readonly reader: Interface;
  private readonly buffered: string[] = [];
  private readonly waiting: ((line: string | undefined) => void)[] = [];
  private isEnded = false;

  constructor() {
    this.reader = createInterface({
      input: process.stdin,
      terminal: false,
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    this.reader.on('line', (line) => {
      const waiter = this.waiting.shift();
      if (waiter) waiter(line);
      else this.buffered.push(line);
      if (this.waiting.length === 0) this.reader.pause();
    });
    this.reader.on('close', () => {
      this.isEnded = true;
      for (const waiter of this.waiting.splice(0)) waiter(undefined);
    });
  }

  next(): Promise<string | undefined> {
    const line = this.buffered.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.isEnded) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.reader.resume();
    });
  }
}
