/**
 * A small, table-driven router. Each route declares its method, its path template (OpenAPI style,
 * `/v1/missions/{id}`), who may call it, and the zod schemas of its path, query and body; the same table
 * drives dispatch, validation and the OpenAPI document, so they cannot drift apart.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { Identity } from './auth.js';

/**
 * - `none`: no token.
 * - `creator`: creating/importing missions — open on a loopback-only server, else the admin token.
 * - `token`: any valid token.
 * - `participant`: a participant token of the mission in the path (`{id}`).
 */
export type AuthMode = 'none' | 'creator' | 'token' | 'participant';

/**
 * `json`: parsed and validated with `schema` (`optional`: an empty body counts as `{}`; `limit`: which
 * size limit applies). `bytes`: the raw body (`schema` only types it as a Buffer), under the blob limit.
 */
export type BodySpec =
  | { kind: 'json'; schema: z.ZodType; optional?: boolean; limit?: 'body' | 'import' }
  | { kind: 'bytes'; schema: z.ZodType<Buffer> };

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
}

export type Reply =
  | { status: number; json: unknown; headers?: Record<string, string> }
  /** Already-serialized JSON (events are stored as JSON and never serialized twice). */
  | { status: number; rawJson: string }
  | { status: number; bytes: Uint8Array; contentType: string }
  /** The handler took over the response (a stream). */
  | { streamed: true };

export interface RouteContext<P, Q, B> {
  req: IncomingMessage;
  res: ServerResponse;
  params: P;
  query: Q;
  body: B;
  identity: Identity | null;
  /** For `participant` routes: the participant the token acts as. Never taken from the body. */
  actor: string;
}

export interface Route<P = any, Q = any, B = any> {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  operationId: string;
  summary: string;
  auth: AuthMode;
  /** For `participant` routes, the capability the handler checks (documentation; the core decides). */
  needs?: string;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: BodySpec;
  /** Accept the token in an `access_token` query parameter too (EventSource/WebSocket in browsers). */
  queryToken?: boolean;
  responses: Record<number, ResponseSpec>;
  handle(ctx: RouteContext<P, Q, B>): Promise<Reply>;
}

/** Declares a route with its handler's types inferred from its schemas. */
export function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType = z.ZodType<undefined>>(
  def: Omit<Route<z.infer<P>, z.infer<Q>, z.infer<B>>, 'params' | 'query' | 'body'> & {
    params?: P;
    query?: Q;
    body?: { kind: 'json'; schema: B; optional?: boolean; limit?: 'body' | 'import' } | { kind: 'bytes'; schema: B };
  },
): Route {
  return def as unknown as Route;
}

interface Compiled {
  route: Route;
  segments: Array<{ literal: string } | { param: string }>;
}

export type Match = { route: Route; params: Record<string, string> } | { allow: string[] } | null;

export class Router {
  private readonly compiled: Compiled[];

  constructor(readonly routes: readonly Route[]) {
    this.compiled = routes.map((route) => ({
      route,
      segments: route.path
        .split('/')
        .slice(1)
        .map((part) => (part.startsWith('{') ? { param: part.slice(1, -1) } : { literal: part })),
    }));
  }

  /** The route for `method` and `pathname`; `{ allow }` when the path exists for other methods only. */
  match(method: string, pathname: string): Match {
    const parts = pathname.split('/').slice(1);
    const allow: string[] = [];
    for (const { route, segments } of this.compiled) {
      const params = matchSegments(segments, parts);
      if (!params) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params };
      allow.push(route.method);
    }
    return allow.length > 0 ? { allow } : null;
  }
}

function matchSegments(segments: Compiled['segments'], parts: string[]): Record<string, string> | null {
  if (segments.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const part = parts[i]!;
    if ('literal' in segment) {
      if (segment.literal !== part) return null;
    } else {
      if (part === '') return null;
      let decoded: string;
      try {
        decoded = decodeURIComponent(part);
      } catch {
        return null;
      }
      params[segment.param] = decoded;
    }
  }
  return params;
}
