import type { FastifyError } from 'fastify';
import { AppError, type ErrorCode } from '../errors.js';

/** HTTP status per error code; a new code does not compile until it is mapped here. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_input: 400,
  unauthenticated: 401,
  password_expired: 401,
  forbidden: 403,
  account_locked: 403,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  unavailable: 503,
};

interface AjvIssue {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Turns anything thrown while serving a request into an AppError (unknown errors become `internal`). */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const fastifyError = error as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (fastifyError.validation && fastifyError.validation.length > 0) {
    return fromValidation(fastifyError.validation[0] as AjvIssue, fastifyError.validationContext ?? 'body');
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', 'request body is larger than the 1 MiB limit');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('invalid_input', 'request body is empty; send a JSON object', { field: 'body' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('invalid_input', `request body is not valid JSON: ${fastifyError.message}`, {
        field: 'body',
      });
  }
  if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
    return new AppError('invalid_input', `request body is not valid JSON: ${fastifyError.message}`, {
      field: 'body',
    });
  }
  return new AppError('internal', 'internal error; the server log has the details');
}

function fromValidation(issue: AjvIssue, context: string): AppError {
  const base = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const join = (name: string) => (base ? `${base}.${name}` : name);
  const where =
    context === 'querystring' ? 'query parameter' : context === 'params' ? 'path parameter' : 'field';
  if (issue.keyword === 'required') {
    const field = join(String(issue.params.missingProperty));
    return new AppError('invalid_input', `${where} "${field}" is required`, { field, location: context });
  }
  if (issue.keyword === 'additionalProperties') {
    const field = join(String(issue.params.additionalProperty));
    return new AppError('invalid_input', `unknown ${where} "${field}"`, { field, location: context });
  }
  const field = base || context;
  return new AppError('invalid_input', `${where} "${field}" ${issue.message ?? 'is invalid'}`, {
    field,
    location: context,
    rule: issue.keyword,
  });
}
