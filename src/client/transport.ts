/**
 * A small HTTP request helper over TCP (`http://`, `https://`) or a Unix socket (`unix:/path`), with a
 * keep-alive agent. Non-2xx answers become the core's typed errors (`errorFromWire`); network failures
 * become `UnavailableError`.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { resolve } from 'node:path';
import { errorFromWire, InvalidInputError, UnavailableError } from '../core/errors.js';

/** Idle keep-alive sockets are closed after this long, or a second before the server's announced timeout if that is sooner. */
const IDLE_SOCKET_TIMEOUT_MS = 30_000;

export type Endpoint =
  | { kind: 'tcp'; origin: string; secure: boolean }
  | { kind: 'unix'; socketPath: string };

/** Parses `http://host:port`, `https://…` or `unix:/path/to/sock` (a relative path is resolved against the cwd). */
export function parseEndpoint(url: string): Endpoint {
  if (url.startsWith('unix:')) {
    const path = url.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new InvalidInputError(`'${url}' names no socket; write unix:/path/to/bus.sock`);
    return { kind: 'unix', socketPath: resolve(path) };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidInputError(`'${url}' is not a server URL; write http://host:port or unix:/path/to/bus.sock`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidInputError(`unsupported protocol '${parsed.protocol}' in '${url}'; use http:, https: or unix:`);
  }
  return { kind: 'tcp', origin: parsed.origin, secure: parsed.protocol === 'https:' };
}

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  bytes?: Uint8Array;
  token?: string;
  /** Default 30 s. */
  timeoutMs?: number;
  /**
   * Sending the request twice has the effect of sending it once (a publish with a message_id, a blob
   * upload). Only such requests, and GETs, are sent again when a reused keep-alive connection fails
   * under them. Default false.
   */
  idempotent?: boolean;
}

export interface Response {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export class Transport {
  readonly endpoint: Endpoint;
  private readonly agent: HttpAgent;

  constructor(url: string) {
    this.endpoint = parseEndpoint(url);
    // With a `timeout`, the agent closes an idle socket before the server's announced keep-alive timeout
    // (Keep-Alive: timeout=N, minus a margin) instead of reusing one the server is about to close.
    const options = { keepAlive: true, timeout: IDLE_SOCKET_TIMEOUT_MS };
    this.agent = this.endpoint.kind === 'tcp' && this.endpoint.secure ? new HttpsAgent(options) : new HttpAgent(options);
  }

  /** Sends a request; resolves on 2xx, rejects with a typed error otherwise. */
  async request(spec: RequestSpec): Promise<Response> {
    const response = await this.send(spec);
    if (response.status >= 200 && response.status < 300) return response;
    throw wireError(response);
  }

  /** Parses a 2xx JSON answer. */
  async json<T>(spec: RequestSpec): Promise<{ status: number; body: T }> {
    const response = await this.request(spec);
    return { status: response.status, body: JSON.parse(response.body.toString('utf8')) as T };
  }

  close(): void {
    this.agent.destroy();
  }

  private async send(spec: RequestSpec): Promise<Response> {
    try {
      return await this.sendOnce(spec, this.agent);
    } catch (error) {
      if (!(error instanceof StaleSocketError)) throw error;
      // A reused keep-alive connection failed. The server may have closed it while idle and never seen the
      // request — or it may have died after acting on it: only a request that is safe to repeat is sent
      // again, on a fresh connection (another pooled one may be just as dead).
      if (spec.method !== 'GET' && !spec.idempotent) throw error.unavailable;
      return this.sendOnce(spec, false);
    }
  }

  private sendOnce(spec: RequestSpec, agent: HttpAgent | false): Promise<Response> {
    const path = withQuery(spec.path, spec.query);
    const payload = spec.json !== undefined ? Buffer.from(JSON.stringify(spec.json)) : spec.bytes ? Buffer.from(spec.bytes) : undefined;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (spec.token) headers.Authorization = `Bearer ${spec.token}`;
    if (payload) {
      headers['Content-Type'] = spec.json !== undefined ? 'application/json' : 'application/octet-stream';
      headers['Content-Length'] = String(payload.length);
    }
    const endpoint = this.endpoint;
    return new Promise((resolvePromise, reject) => {
      const onResponse = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (error) => reject(unavailable(error, endpoint)));
      };
      const req =
        endpoint.kind === 'unix'
          ? httpRequest({ socketPath: endpoint.socketPath, path, method: spec.method, headers, agent }, onResponse)
          : (endpoint.secure ? httpsRequest : httpRequest)(new URL(path, endpoint.origin), { method: spec.method, headers, agent }, onResponse);
      req.setTimeout(spec.timeoutMs ?? 30_000, () => req.destroy(new Error(`no answer within ${spec.timeoutMs ?? 30_000} ms`)));
      req.on('error', (error: NodeJS.ErrnoException) => {
        const failure = unavailable(error, endpoint);
        const stale = req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
        reject(stale ? new StaleSocketError(failure) : failure);
      });
      req.end(payload);
    });
  }
}

export function withQuery(path: string, query: RequestSpec['query']): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** The typed error an error response stands for. */
export function wireError(response: { status: number; body: Buffer }): Error {
  try {
    const parsed = JSON.parse(response.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const error = parsed.error;
    if (error && typeof error.code === 'string' && typeof error.message === 'string') {
      const details = typeof error.details === 'object' && error.details !== null ? (error.details as Record<string, unknown>) : {};
      return errorFromWire(error.code, error.message, { ...details, status: response.status });
    }
  } catch {
    // Not our JSON (a proxy's page, a truncated body): fall through.
  }
  return new UnavailableError(`the server answered ${response.status} without a missionbus error body`, { status: response.status });
}

/** A reused keep-alive connection failed under a request; `unavailable` is what the caller is told if it is not sent again. */
class StaleSocketError extends Error {
  constructor(readonly unavailable: UnavailableError) {
    super(unavailable.message);
  }
}

function unavailable(error: Error, endpoint: Endpoint): UnavailableError {
  const where = endpoint.kind === 'unix' ? `unix:${endpoint.socketPath}` : endpoint.origin;
  return new UnavailableError(`cannot reach the missionbus server at ${where}: ${error.message}`, { url: where }, { cause: error });
}
