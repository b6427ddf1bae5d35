/**
 * The HTTP edge over a `MissionService`: one request handler served on TCP (loopback by default) and on
 * a Unix domain socket (for cells without a network), plus WebSocket upgrades on both. It authenticates,
 * validates, calls the service as the token's participant and maps typed errors to HTTP once.
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { pino, type Level, type Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { z } from 'zod';
import { InvalidInputError, isMissionBusError, PermissionDeniedError, UnavailableError } from '../core/errors.js';
import { resolveLimits, type Limits } from '../core/limits.js';
import { parseWith } from '../core/validate.js';
import { MissionService } from '../service/mission-service.js';
import type { EventStore } from '../store/contract.js';
import { Authenticator, bearerToken, ensureAdminToken, type Identity } from './auth.js';
import { readBody, readJson } from './body.js';
import { malformedRequest, methodNotAllowed, rawErrorResponse, routeNotFound, sendError } from './http-error.js';
import { openApiDocument } from './openapi.js';
import { route, Router, type Reply, type Route } from './router.js';
import { buildRoutes, startSubscription, type RouteDeps } from './routes.js';
import { DEFAULT_PUBLISH_CHANNEL_OPTIONS, PublishChannels, type PublishChannelOptions } from './publish-channel.js';
import { DEFAULT_STREAM_OPTIONS, SubscriberHub, WebSocketOutlet, type StreamOptions, type StreamStats } from './stream.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7420;
export const DEFAULT_SOCKET_PATH = '.missionbus/bus.sock';

export interface ServerOptions {
  /** The service to serve. Give this or `store`. */
  service?: MissionService;
  /** A store to serve through a new `MissionService` (with `limits`). */
  store?: EventStore;
  /** Input size bounds when the server builds the service from `store`. */
  limits?: Partial<Limits>;
  /** TCP host. Default `127.0.0.1`. Anything but loopback makes mission creation need the admin token. */
  host?: string;
  /** TCP port; 0 picks a free one; `null` disables TCP. Default 7420. */
  port?: number | null;
  /** Unix socket path; `null` disables it. Default `.missionbus/bus.sock`. Created with mode 0600. */
  socketPath?: string | null;
  /**
   * A group (name or gid) that may also connect to the Unix socket: the socket becomes 0660 and its
   * directory 0710 (traverse only), both owned by that group. Level 3 cells run as the unprivileged
   * `missionbus` user and need this. Default: none (owner only).
   */
  socketGroup?: string | number;
  /** Largest JSON request body. Default 1 MiB. */
  bodyLimit?: number;
  /** Largest import (`POST /v1/missions/import`) body. Default 64 MiB. */
  importLimit?: number;
  /** Largest blob upload. Default 64 MiB. */
  blobLimit?: number;
  /** Live subscription limits; see `StreamOptions` for each default. */
  stream?: Partial<StreamOptions>;
  /** Publish channel limits (`GET /v1/missions/{id}/publish`); see `PublishChannelOptions` for each default. */
  publishChannel?: Partial<PublishChannelOptions>;
  /** New subscribers beyond this many are refused with 503. Default 10,000. */
  maxSubscribers?: number;
  /**
   * Whether creating or importing a mission needs the admin token. Default: true exactly when `host`
   * is not a loopback address. The token is generated on the first start that needs it.
   */
  requireAdminToken?: boolean;
  /** Called once with a newly generated admin token. Default: prints it to stderr. */
  onAdminToken?: (token: string) => void;
  /** Extra Host header values accepted on a loopback listener (DNS-rebinding guard). Default none. */
  allowedHosts?: string[];
  /**
   * A request head (request line and headers) must arrive within this many ms, or it is answered 408 and the
   * connection closed: a client that trickles or stalls its head cannot hold a connection for long. Default 10 s.
   */
  headersTimeoutMs?: number;
  /** Close the store (through the service) on `close()`. Default true. */
  closeStore?: boolean;
  /** pino level. Default 'warn'. */
  logLevel?: Level | 'silent';
  /** A logger to use instead of a new one on stderr. */
  logger?: Logger;
}

export interface MissionServer {
  /** `http://host:port`, or null without TCP. */
  readonly url: string | null;
  /** Absolute Unix socket path, or null without one. */
  readonly socketPath: string | null;
  /** The admin token, only on the start that generated it (it is stored hashed and never shown again). */
  readonly adminToken: string | undefined;
  readonly service: MissionService;
  /** Live counters: subscribers, shared frames encoded, slow disconnects, unsent subscriber bytes, requests in flight. */
  stats(): StreamStats & {
    bufferedBytes: number;
    largestBacklog: number;
    requestsInFlight: number;
    /** Open publish channels, and publishes they took that are not acknowledged yet. */
    publishers: number;
    publishesInFlight: number;
  };
  /** Destroys every live subscriber's socket without a close frame; clients resume on their own. */
  dropSubscribers(): void;
  /** Destroys every publish channel's socket without a close frame; publishers reconnect and resend on their own. */
  dropPublishers(): void;
  /**
   * Graceful shutdown: stop accepting, close subscribers (WS 1001, SSE end), let in-flight requests
   * finish, drain the service (every acknowledged append is durable), close the store, remove the socket.
   */
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;
const SHUTDOWN_GRACE_MS = 2_000;
const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_DRAIN_MS = 10_000;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host.replace(/^\[|\]$/g, ''));
}

export async function startServer(options: ServerOptions = {}): Promise<MissionServer> {
  if (!options.service && !options.store) throw new InvalidInputError('startServer needs a service or a store');
  const service = options.service ?? new MissionService({ store: options.store!, limits: options.limits });
  const limits = resolveLimits(options.limits);
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port === undefined ? DEFAULT_PORT : options.port;
  const socketPath = options.socketPath === undefined ? DEFAULT_SOCKET_PATH : options.socketPath;
  if (port === null && socketPath === null) throw new InvalidInputError('startServer needs a TCP port or a Unix socket path, or both');
  const log = options.logger ?? pino({ name: 'missionbus', level: options.logLevel ?? 'warn' }, pino.destination({ fd: 2, sync: true }));
  const bodyLimit = options.bodyLimit ?? 1024 * 1024;
  const importLimit = options.importLimit ?? 64 * 1024 * 1024;
  const blobLimit = options.blobLimit ?? 64 * 1024 * 1024;
  const requireAdmin = options.requireAdminToken ?? !isLoopback(host);

  let adminToken: string | undefined;
  if (requireAdmin) {
    adminToken = await ensureAdminToken(service.store);
    if (adminToken) (options.onAdminToken ?? printAdminToken)(adminToken);
  }

  const auth = new Authenticator(service.store);
  const hub = new SubscriberHub({ ...DEFAULT_STREAM_OPTIONS, ...options.stream }, log);
  const deps: RouteDeps = { service, auth, hub, limits, maxSubscribers: options.maxSubscribers ?? 10_000 };
  const routes = buildRoutes(deps);
  let openapi: Buffer | undefined;
  routes.push(
    route({
      method: 'GET',
      path: '/openapi.json',
      operationId: 'openapi',
      summary: 'This document: OpenAPI 3.1, generated from the schemas the server validates with.',
      auth: 'none',
      responses: { 200: { description: 'The OpenAPI document' } },
      handle: async () => {
        openapi ??= Buffer.from(JSON.stringify(openApiDocument(routes, { servers: url ? [url] : [] })));
        return { status: 200, bytes: openapi, contentType: 'application/json; charset=utf-8' };
      },
    }),
  );
  const router = new Router(routes);
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false, clientTracking: false });
  const publishers = new PublishChannels(
    {
      ...DEFAULT_PUBLISH_CHANNEL_OPTIONS,
      maxFrameBytes: bodyLimit,
      heartbeatMs: options.stream?.heartbeatMs ?? DEFAULT_STREAM_OPTIONS.heartbeatMs,
      ...options.publishChannel,
    },
    service.schemas.publish,
    log,
  );

  let closing: Promise<void> | undefined;
  let inFlight = 0;

  const identify = (req: IncomingMessage, queryToken: string | undefined): Promise<Identity> =>
    auth.identify(bearerToken(req.headers, queryToken));

  /** Resolves who a request acts as, by the route's auth mode. The sender is never read from the body. */
  const authenticate = async (target: Route, req: IncomingMessage, params: Record<string, string>, queryToken?: string) => {
    if (target.auth === 'none') return { identity: null, actor: '' };
    if (target.auth === 'creator') {
      if (!requireAdmin) return { identity: null, actor: '' };
      const identity = await identify(req, undefined);
      if (identity.kind !== 'admin') {
        throw new PermissionDeniedError('creating or importing a mission on this server needs the admin token', { reason: 'admin_required' });
      }
      return { identity, actor: '' };
    }
    const identity = await identify(req, target.queryToken ? queryToken : undefined);
    if (target.auth === 'token') return { identity, actor: '' };
    return { identity, actor: auth.participantOn(identity, params.id!) };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, hostCheck: boolean): Promise<void> => {
    inFlight++;
    let counted = true;
    const done = () => {
      if (counted) inFlight--;
      counted = false;
    };
    res.on('close', done);
    const started = Date.now();
    try {
      if (closing) {
        res.setHeader('Connection', 'close');
        throw new UnavailableError('the server is shutting down; retry against its replacement', { reason: 'shutting_down' });
      }
      checkHost(req, hostCheck, options.allowedHosts);
      const url = splitUrl(req.url);
      const method = req.method ?? 'GET';
      const match = router.match(method, url.pathname);
      if (!match) throw routeNotFound(method, url.pathname);
      if ('allow' in match) throw methodNotAllowed(method, url.pathname, match.allow);
      const target = match.route;
      const rawQuery = Object.fromEntries(url.searchParams);
      const { access_token: queryToken, ...restQuery } = rawQuery;
      const { identity, actor } = await authenticate(target, req, match.params, queryToken);
      const params = target.params ? parseWith(target.params, match.params, 'path') : match.params;
      const query = target.query ? parseWith(target.query, target.queryToken ? restQuery : rawQuery, 'query') : parseWith(noQuery, rawQuery, 'query');
      let body: unknown;
      if (target.body?.kind === 'json') {
        const limit = target.body.limit === 'import' ? importLimit : bodyLimit;
        body = await readJson(req, target.body.schema, limit, { optional: target.body.optional });
      } else if (target.body?.kind === 'bytes') {
        body = await readBody(req, blobLimit, 'the blob');
      }
      const reply = await target.handle({ req, res, params, query, body, identity, actor });
      if ('streamed' in reply) {
        done(); // a stream is a subscriber, not a request to wait for at shutdown
        return;
      }
      send(res, reply, method === 'HEAD');
    } catch (error) {
      if (!isMissionBusError(error)) log.error({ err: error, path: splitUrl(req.url).pathname }, 'request failed');
      sendError(res, error);
    } finally {
      // The path only: a query may carry an access_token.
      log.info({ method: req.method, path: splitUrl(req.url).pathname, status: res.statusCode, ms: Date.now() - started }, 'request');
    }
  };

  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer, hostCheck: boolean): Promise<void> => {
    socket.on('error', () => socket.destroy());
    try {
      if (closing) throw new UnavailableError('the server is shutting down', { reason: 'shutting_down' });
      checkHost(req, hostCheck, options.allowedHosts);
      // A handshake the WebSocket library would refuse is refused here, before anything is authorized or audited.
      checkHandshake(req);
      const url = splitUrl(req.url);
      const match = router.match('GET', url.pathname);
      const upgradable = (operationId: string) => operationId === 'subscribeWebSocket' || operationId === 'publishWebSocket';
      if (!match || 'allow' in match || !upgradable(match.route.operationId)) throw routeNotFound('GET (upgrade)', url.pathname);
      const target = match.route;
      const { access_token: queryToken, ...restQuery } = Object.fromEntries(url.searchParams);
      const { actor } = await authenticate(target, req, match.params, queryToken);
      const params = parseWith(target.params!, match.params, 'path') as { id: string };
      if (target.operationId === 'publishWebSocket') {
        parseWith(target.query!, restQuery, 'query');
        // Each publish is authorized and audited on its own, exactly like POST .../messages.
        const mission = await service.open(params.id);
        if (closing || socket.destroyed) {
          socket.destroy();
          return;
        }
        publishers.accept(req, socket, head, mission, actor);
        return;
      }
      const query = parseWith(target.query!, restQuery, 'query') as { from?: number };
      const { mission, from } = await startSubscription(deps, params.id, actor, query.from);
      if (closing || socket.destroyed) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        void hub.serve(mission, from, new WebSocketOutlet(ws, socket, hub.options));
      });
    } catch (error) {
      if (!socket.destroyed) socket.end(rawErrorResponse(error));
    }
  };

  const servers: Server[] = [];
  const makeServer = (hostCheck: boolean) => {
    const headersTimeout = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
    const server = createServer(
      {
        // A missing Host is refused by checkHost, with a JSON body like every other refusal (Node's own 400 has none).
        requireHostHeader: false,
        headersTimeout,
        // How often Node looks for requests past their timeout; the default (30 s) would dwarf a short headersTimeout.
        connectionsCheckingInterval: Math.min(30_000, Math.max(100, headersTimeout / 4)),
      },
      (req, res) => void handle(req, res, hostCheck),
    );
    server.on('upgrade', (req, socket, head) => void upgrade(req, socket, head, hostCheck));
    // Unanswered, a CONNECT would just see its connection closed.
    server.on('connect', (req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => socket.destroy());
      const refusal = new InvalidInputError(`CONNECT ${req.url ?? ''} is not served: this server is not a proxy`, { reason: 'method_not_allowed', allow: [] });
      socket.end(rawErrorResponse(refusal));
    });
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex & { _httpMessage?: { headersSent?: boolean } | null }) => {
      // Nothing to answer on a connection the client reset, or under a response whose bytes are already on their way.
      if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable || socket._httpMessage?.headersSent) {
        socket.destroy();
        return;
      }
      socket.end(rawErrorResponse(malformedRequest(error)));
    });
    servers.push(server);
    return server;
  };

  let url: string | null = null;
  let boundSocket: string | null = null;
  try {
    if (port !== null) {
      const server = makeServer(isLoopback(host));
      await listen(server, { host, port }).catch((error) => {
        throw wrapListenError(error, `${host}:${port}`);
      });
      const address = server.address() as AddressInfo;
      url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    }
    if (socketPath !== null) {
      boundSocket = resolve(socketPath);
      await listenUnix(makeServer(false), boundSocket);
      if (options.socketGroup !== undefined) shareSocket(boundSocket, options.socketGroup);
    }
  } catch (error) {
    for (const server of servers) server.close();
    throw error;
  }
  log.info({ url, socketPath: boundSocket }, 'missionbus server listening');

  const close = async (): Promise<void> => {
    const closed = servers.map((server) => new Promise<void>((done) => server.close(() => done())));
    for (const server of servers) server.closeIdleConnections();
    // Publishers get as long as requests: what they sent is acknowledged before their sockets close.
    await Promise.all([hub.closeAll(SHUTDOWN_GRACE_MS), publishers.closeAll(REQUEST_DRAIN_MS)]);
    const deadline = Date.now() + REQUEST_DRAIN_MS;
    while (inFlight > 0 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 10));
    for (const server of servers) server.closeAllConnections();
    await Promise.all(closed);
    wss.close();
    if (options.closeStore ?? true) await service.close();
    else await service.drain();
    if (boundSocket && existsSync(boundSocket)) unlinkSync(boundSocket);
    log.info('missionbus server closed');
  };

  return {
    url,
    socketPath: boundSocket,
    adminToken,
    service,
    stats: () => {
      const backlog = hub.backlog();
      return {
        ...hub.stats,
        bufferedBytes: backlog.total,
        largestBacklog: backlog.largest,
        requestsInFlight: inFlight,
        publishers: publishers.size,
        publishesInFlight: publishers.inFlight(),
      };
    },
    dropSubscribers: () => hub.dropAll(),
    dropPublishers: () => publishers.dropAll(),
    close: () => (closing ??= close()),
  };
}

const noQuery = z.strictObject({});

/** Path and query of a request target, parsed literally (a `//host/...` target is not a host). */
function splitUrl(target = '/'): { pathname: string; searchParams: URLSearchParams } {
  const at = target.indexOf('?');
  return at < 0
    ? { pathname: target, searchParams: new URLSearchParams() }
    : { pathname: target.slice(0, at), searchParams: new URLSearchParams(target.slice(at + 1)) };
}

function send(res: ServerResponse, reply: Exclude<Reply, { streamed: true }>, headOnly: boolean): void {
  let bytes: Buffer | Uint8Array;
  let contentType = 'application/json; charset=utf-8';
  if ('rawJson' in reply) bytes = Buffer.from(reply.rawJson);
  else if ('bytes' in reply) {
    bytes = reply.bytes;
    contentType = reply.contentType;
  } else bytes = Buffer.from(JSON.stringify(reply.json));
  res.writeHead(reply.status, {
    ...('headers' in reply ? reply.headers : {}),
    'Content-Type': contentType,
    'Content-Length': String(bytes.length),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(headOnly ? undefined : bytes);
}

const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;

/** Refuses, as JSON, an upgrade request that is not a valid WebSocket handshake (RFC 6455 §4.2.1). */
function checkHandshake(req: IncomingMessage): void {
  if (req.method !== 'GET') throw methodNotAllowed(req.method ?? '', splitUrl(req.url).pathname, ['GET']);
  const bad = (what: string) => new InvalidInputError(`not a WebSocket handshake: ${what}`, { reason: 'bad_handshake' });
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') throw bad("the Upgrade header must be 'websocket'");
  if (!WEBSOCKET_KEY.test(req.headers['sec-websocket-key'] ?? '')) throw bad('Sec-WebSocket-Key must be 16 random bytes in base64');
  if (req.headers['sec-websocket-version'] !== '13') throw bad('Sec-WebSocket-Version must be 13');
}

/**
 * An HTTP/1.1 request must name its Host (RFC 9112 §3.2). On a loopback listener, only loopback Host names are
 * served: a DNS-rebinding page cannot reach us.
 */
function checkHost(req: IncomingMessage, loopbackOnly: boolean, allowed: string[] = []): void {
  if (req.headers.host === undefined && req.httpVersion === '1.1') {
    throw new InvalidInputError('an HTTP/1.1 request must have a Host header; add one naming this server', { reason: 'missing_host' });
  }
  if (!loopbackOnly) return;
  const header = req.headers.host ?? '';
  const hostname = header.replace(/:\d+$/, '');
  if (isLoopback(hostname) || allowed.includes(hostname) || allowed.includes(header)) return;
  throw new PermissionDeniedError(`Host '${header}' is not served by this loopback server; use 127.0.0.1 or localhost`, {
    reason: 'host_not_allowed',
  });
}

function listen(server: Server, target: { host: string; port: number } | { path: string }): Promise<void> {
  return new Promise((done, fail) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      fail(error);
    };
    const onListening = () => {
      server.off('error', onError);
      done();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(target);
  });
}

/** Listens on a Unix socket, replacing a stale socket file but never a live server's. */
async function listenUnix(server: Server, path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await listen(server, { path });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw wrapListenError(error, path);
    if (!lstatSync(path).isSocket()) {
      throw new UnavailableError(`'${path}' exists and is not a socket; remove it or choose another socket path`, { socketPath: path });
    }
    if (await socketAnswers(path)) {
      throw new UnavailableError(`another server is listening on '${path}'; stop it or choose another socket path`, { socketPath: path });
    }
    // A socket file nobody answers on was left by a server that died: replace it.
    unlinkSync(path);
    await listen(server, { path }).catch((retry) => {
      throw wrapListenError(retry, path);
    });
  }
  chmodSync(path, 0o600);
}

function shareSocket(path: string, group: string | number): void {
  const gid = typeof group === 'number' ? group : groupId(group);
  if (gid === undefined) throw new InvalidInputError(`socket group '${group}' does not exist; create it (missionbus cell setup does) or omit socketGroup`);
  chownSync(dirname(path), -1, gid);
  chmodSync(dirname(path), 0o710);
  chownSync(path, -1, gid);
  chmodSync(path, 0o660);
}

/** The gid of a group from /etc/group, or undefined. */
export function groupId(name: string): number | undefined {
  if (!existsSync('/etc/group')) return undefined;
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined) return Number(gid);
  }
  return undefined;
}

function wrapListenError(error: unknown, where: string): UnavailableError {
  return new UnavailableError(`cannot listen on '${where}': ${(error as Error).message}`, { where }, { cause: error });
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      done(true);
    });
    probe.once('error', () => done(false));
  });
}

function printAdminToken(token: string): void {
  process.stderr.write(
    `missionbus: admin token (shown once; needed to create missions on this non-loopback server):\n  ${token}\n`,
  );
}
