/**
 * The one place where errors become HTTP. Handlers throw the core's typed errors; this maps each
 * `code` to a status once. A few edge-only situations (no token, too large, wrong media type) are the
 * same typed errors with a `details.reason` that picks a more precise status.
 */
import type { ServerResponse } from 'node:http';
import {
  InvalidInputError,
  MissionBusError,
  NotFoundError,
  PermissionDeniedError,
  type ErrorCode,
} from '../core/errors.js';
import type { ErrorBody } from './wire.js';

const STATUS_BY_CODE: Record<ErrorCode, number> = {
  permission_denied: 403,
  not_found: 404,
  conflict: 409,
  invalid_input: 400,
  unavailable: 503,
};

const STATUS_BY_REASON: Record<string, number> = {
  unauthenticated: 401,
  too_large: 413,
  unsupported_media_type: 415,
  method_not_allowed: 405,
  upgrade_required: 426,
  request_timeout: 408,
  headers_too_large: 431,
};

export interface HttpError {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

/** Maps any thrown value to a status and a JSON body. Anything untyped is a 500 that reveals nothing. */
export function toHttpError(error: unknown): HttpError {
  if (!(error instanceof MissionBusError)) {
    return {
      status: 500,
      body: { error: { code: 'internal', message: 'internal server error; see the server log', details: {} } },
      headers: {},
    };
  }
  const reason = typeof error.details.reason === 'string' ? error.details.reason : '';
  const status = STATUS_BY_REASON[reason] ?? STATUS_BY_CODE[error.code];
  const headers: Record<string, string> = {};
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="missionbus"';
  if (status === 405 && Array.isArray(error.details.allow)) headers.Allow = (error.details.allow as string[]).join(', ');
  if (status === 413) headers.Connection = 'close';
  return { status, body: error.toJSON(), headers };
}

export function sendError(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, body, headers } = toHttpError(error);
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(bytes.length),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(bytes);
}

/** The raw HTTP/1.1 response for a refused WebSocket upgrade (the socket is not an HTTP response yet). */
export function rawErrorResponse(error: unknown): Buffer {
  const { status, body, headers } = toHttpError(error);
  const json = JSON.stringify(body);
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(json)}`,
    'Connection: close',
    ...Object.entries(headers)
      .filter(([name]) => name !== 'Connection')
      .map(([name, value]) => `${name}: ${value}`),
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${json}`);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  426: 'Upgrade Required',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

// ---- edge-only errors ----

export function unauthenticated(message: string): PermissionDeniedError {
  return new PermissionDeniedError(message, { reason: 'unauthenticated' });
}

export function tooLarge(limit: number, what: string): InvalidInputError {
  return new InvalidInputError(`${what} is larger than the limit of ${limit} bytes; send less or raise the server's limit`, {
    reason: 'too_large',
    limit,
  });
}

export function unsupportedMediaType(got: string | undefined, want: string): InvalidInputError {
  return new InvalidInputError(`Content-Type must be ${want}, not ${got ? `'${got}'` : 'missing'}`, {
    reason: 'unsupported_media_type',
    expected: want,
  });
}

export function methodNotAllowed(method: string, path: string, allow: string[]): InvalidInputError {
  return new InvalidInputError(`${method} is not allowed on ${path}; allowed: ${allow.join(', ')}`, {
    reason: 'method_not_allowed',
    allow,
  });
}

/**
 * What a request the HTTP parser refused (Node's 'clientError') is answered with: the same JSON error body as
 * every other refusal. There is no request object, so the message names only the parser's error code.
 */
export function malformedRequest(error: { code?: unknown }): InvalidInputError {
  const code = typeof error.code === 'string' ? error.code : 'unknown';
  if (code === 'HPE_HEADER_OVERFLOW') {
    return new InvalidInputError('the request head is larger than the server accepts; send fewer or shorter headers', { reason: 'headers_too_large' });
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new InvalidInputError('the request did not arrive in time; send it again, whole', { reason: 'request_timeout' });
  }
  return new InvalidInputError(`the request is not valid HTTP/1.1 (${code}); send a well-formed request`, { reason: 'malformed_request', parser: code });
}

export function routeNotFound(method: string, path: string): NotFoundError {
  return new NotFoundError(`no route for ${method} ${path}; see GET /openapi.json`, { method, path });
}
