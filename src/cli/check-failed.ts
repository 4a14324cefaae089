/**
 * A command ran but what it checked does not hold (a broken audit chain, for example). It is not an
 * API error: `runProgram` prints the message and exits with the general failure code.
 */
export class CheckFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckFailedError';
  }
}
