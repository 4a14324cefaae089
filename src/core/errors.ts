/** The closed set of error codes. HTTP statuses and CLI exit codes are mapped from it at the edges. */
const ERROR_CODES = [
  'invalid_input',
  'not_found',
  'conflict',
  'precondition_failed',
  'unauthenticated',
  'forbidden',
  'password_expired',
  'account_locked',
  'payload_too_large',
  'unsupported_media_type',
  'unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export type ErrorDetails = Record<string, unknown>;

/** The one error type domain code throws; `code` decides how every edge reports it. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }
}

/** `invalid_input` for a named field. */
export function invalidInput(field: string, message: string, details: ErrorDetails = {}): AppError {
  return new AppError('invalid_input', message, { field, ...details });
}

/** `not_found` for a kind of resource and its name. */
export function notFound(kind: string, name: string): AppError {
  return new AppError('not_found', `${kind} "${name}" not found`, { kind, name });
}

/** `conflict` with an explanation of what to do. */
export function conflict(message: string, details: ErrorDetails = {}): AppError {
  return new AppError('conflict', message, details);
}
