import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { InvalidInputError } from '../core/errors.js';
import { jsonProblem } from '../core/schemas.js';
import { parseWith } from '../core/validate.js';
import { tooLarge, unsupportedMediaType } from './http-error.js';

/** After refusing an oversize body, keep discarding the rest up to this multiple of the limit, then hang up. */
const DISCARD_FACTOR = 16;

/**
 * Reads a request body of at most `limit` bytes. A declared Content-Length over the limit is refused
 * before reading; a body that grows past it is refused as soon as it does, and the rest is discarded
 * (bounded) so the client can read the 413.
 */
export function readBody(req: IncomingMessage, limit: number, what = 'the request body'): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    discard(req, limit);
    return Promise.reject(tooLarge(limit, what));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        chunks.length = 0;
        discard(req, limit, size);
        reject(tooLarge(limit, what));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new InvalidInputError(`the request body could not be read: ${error.message}`, { reason: 'aborted' }));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function discard(req: IncomingMessage, limit: number, already = 0): void {
  let seen = already;
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limit * DISCARD_FACTOR) req.socket.destroy();
  });
  req.resume();
}

/**
 * Nesting allowed in a JSON body by default: room for the core's payload/state limit (64) inside the
 * deepest envelope (an imported event), and far below where serializing it again would overflow the stack.
 */
export const DEFAULT_MAX_BODY_DEPTH = 96;

/**
 * Parses a JSON body and validates it with `schema`; wrong media type → 415, bad JSON or nesting deeper
 * than `maxDepth` → 400. The depth is checked before anything else looks at the value: parts of some
 * bodies (an import's events, a mission's profiles) are kept as they are, and JSON.stringify recurses.
 */
export async function readJson<S extends z.ZodType>(
  req: IncomingMessage,
  schema: S,
  limit: number,
  options: { optional?: boolean; maxDepth?: number } = {},
): Promise<z.infer<S>> {
  const contentType = req.headers['content-type'];
  const bytes = await readBody(req, limit);
  if (bytes.length === 0 && options.optional) return parseWith(schema, {}, 'request body');
  // Requiring application/json keeps browsers from sending cross-origin "simple" requests (CSRF).
  if (!contentType || !/^application\/json\s*(;|$)/i.test(contentType)) throw unsupportedMediaType(contentType, 'application/json');
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new InvalidInputError(`the request body is not valid JSON: ${(error as Error).message}`, { reason: 'malformed_json' });
  }
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_BODY_DEPTH;
  // Parsed JSON can only fail on depth here: JSON.parse makes plain objects and finite numbers.
  const problem = jsonProblem(json, maxDepth);
  if (problem !== null) {
    throw new InvalidInputError(`the request body ${problem}; send flatter JSON`, { reason: 'too_deep', limit: maxDepth });
  }
  return parseWith(schema, json, 'request body');
}
