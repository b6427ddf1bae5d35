/**
 * Live subscriptions over WebSocket and Server-Sent Events.
 *
 * Each subscriber first catches up page by page, paced by its socket (it waits for 'drain'), then hands
 * over to a `Subscription` (replay then live, no gap, no duplicate) from the next sequence. Live batches
 * are encoded once — one Buffer per committed batch and transport, cached by the batch — and the same
 * bytes are written to every subscriber.
 *
 * Memory is bounded per subscriber: a live batch that would push a socket that is already behind past
 * the high-water mark disconnects it instead (WebSocket close 4008, SSE `event: error`), and the client
 * resumes from the last sequence it received. A subscriber that stops reading during catch-up is
 * disconnected after `stallTimeoutMs`.
 *
 * Wire format: a WebSocket text message is a JSON array of events in sequence order; an SSE message is
 * one event, `id:` its sequence, `data:` its JSON.
 */
import type { Duplex } from 'node:stream';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { LiveMission } from '../service/live-mission.js';
import { Subscription } from '../service/subscription.js';
import type { StoredEvent } from '../store/contract.js';
import { keepAlive } from './heartbeat.js';

export interface StreamOptions {
  /** Bytes a subscriber's socket may hold unsent before it is disconnected as too slow. Default 8 MiB. */
  highWaterMark: number;
  /** WebSocket ping / SSE comment interval; a WebSocket that misses a pong is dropped. Default 30 s. */
  heartbeatMs: number;
  /** How long a disconnected slow subscriber gets to read its close frame before the socket is destroyed. Default 5 s. */
  slowGraceMs: number;
  /** How long catch-up waits for a subscriber's socket to drain before disconnecting it. Default 30 s. */
  stallTimeoutMs: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = {
  highWaterMark: 8 * 1024 * 1024,
  heartbeatMs: 30_000,
  slowGraceMs: 5_000,
  stallTimeoutMs: 30_000,
};

/** WebSocket close code for a subscriber disconnected for reading too slowly. */
export const CLOSE_SLOW_CONSUMER = 4008;
/** Close code when the server goes away (shutdown). */
export const CLOSE_GOING_AWAY = 1001;

/** Events read from the store per catch-up page, at most; fewer while pages come out larger than the high-water mark. */
const CATCH_UP_PAGE = 256;

export interface StreamStats {
  subscribers: number;
  /** Frames encoded for live batches; with N subscribers on one batch this grows by one per transport, not N. */
  framesEncoded: number;
  slowDisconnects: number;
}

type Encoding = 'ws' | 'sse';

/** Tracks every live subscriber so shutdown can close them and stats can count them. */
export class SubscriberHub {
  private readonly outlets = new Set<Outlet>();
  private readonly frames: Record<Encoding, WeakMap<readonly StoredEvent[], Buffer>> = { ws: new WeakMap(), sse: new WeakMap() };
  readonly stats: StreamStats = { subscribers: 0, framesEncoded: 0, slowDisconnects: 0 };

  constructor(
    readonly options: StreamOptions,
    readonly log: Logger,
  ) {}

  get size(): number {
    return this.outlets.size;
  }

  /** Bytes written to subscribers' sockets and not yet sent, summed, and the largest single backlog. */
  backlog(): { total: number; largest: number } {
    let total = 0;
    let largest = 0;
    for (const outlet of this.outlets) {
      const buffered = outlet.buffered();
      total += buffered;
      largest = Math.max(largest, buffered);
    }
    return { total, largest };
  }

  /** The shared frame of a live batch: encoded the first time any subscriber needs it. */
  sharedFrame(encoding: Encoding, events: readonly StoredEvent[]): Buffer {
    const cache = this.frames[encoding];
    let frame = cache.get(events);
    if (!frame) {
      frame = encode(encoding, events);
      cache.set(events, frame);
      this.stats.framesEncoded++;
    }
    return frame;
  }

  /** Streams `mission` from `from` to `outlet` until either side closes. */
  async serve(mission: LiveMission, from: number, outlet: Outlet): Promise<void> {
    this.outlets.add(outlet);
    this.stats.subscribers = this.outlets.size;
    let subscription: Subscription | undefined;
    outlet.onClose(() => {
      subscription?.close();
      this.outlets.delete(outlet);
      this.stats.subscribers = this.outlets.size;
    });
    try {
      // Catch-up frames are this subscriber's own (live frames are shared), so what it holds is bounded by bytes:
      // frames of at most a quarter of the high-water mark (or one event), each written only once the socket
      // has drained below that, and pages read smaller while they come out larger than the mark. Without this,
      // a thousand subscribers resuming at once each held a 256-event page on the heap and in their sockets.
      const frameBytes = Math.max(1, Math.floor(this.options.highWaterMark / 4));
      let pageSize = CATCH_UP_PAGE;
      let next = Math.max(1, from);
      while (!outlet.closed && next <= mission.committedSequence) {
        const page = await mission.readEvents(next, pageSize);
        if (page.length === 0 || outlet.closed) break;
        let pageBytes = 0;
        for (let start = 0; start < page.length && !outlet.closed; ) {
          let end = start + 1;
          let bytes = page[start]!.body.length;
          while (end < page.length && bytes + page[end]!.body.length <= frameBytes) bytes += page[end++]!.body.length;
          if (outlet.buffered() > frameBytes && !(await outlet.drained(this.options.stallTimeoutMs))) {
            if (!outlet.closed) this.slow(outlet, `no progress reading the catch-up for ${this.options.stallTimeoutMs} ms`);
            return;
          }
          if (outlet.closed) return;
          outlet.write(encode(outlet.encoding, page.slice(start, end)));
          pageBytes += bytes;
          start = end;
        }
        next = page[page.length - 1]!.sequence + 1;
        pageSize = pageBytes > this.options.highWaterMark ? Math.max(1, pageSize >> 1) : Math.min(CATCH_UP_PAGE, pageSize * 2);
      }
      if (outlet.closed) return;
      subscription = new Subscription(mission, next, {
        deliver: (events) => {
          if (outlet.closed) return false;
          const frame = this.sharedFrame(outlet.encoding, events);
          const buffered = outlet.buffered();
          // An idle socket always takes the next frame, however large; one that is behind may not pass the mark.
          if (buffered > 0 && buffered + frame.length > this.options.highWaterMark) {
            this.slow(outlet, `${buffered} bytes unread; the limit is ${this.options.highWaterMark}`);
            return false;
          }
          outlet.write(frame);
          return true;
        },
      });
      await subscription.ready;
    } catch (error) {
      this.log.error({ err: error, mission_id: mission.missionId }, 'subscription failed');
      outlet.fail('the subscription failed on the server; resubscribe from your last sequence');
    }
  }

  private slow(outlet: Outlet, why: string): void {
    this.stats.slowDisconnects++;
    this.log.warn({ why }, 'disconnecting slow subscriber');
    outlet.kick(`slow consumer: ${why}; resubscribe from your last sequence`);
  }

  /** Closes every subscriber cleanly (WS 1001, SSE end); destroys those still open after `graceMs`. */
  async closeAll(graceMs: number): Promise<void> {
    const open = [...this.outlets];
    for (const outlet of open) outlet.shutdown();
    const deadline = Date.now() + graceMs;
    while (this.outlets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const outlet of this.outlets) outlet.drop();
  }

  /** Destroys every subscriber's socket at once, without a close frame (operations and tests). */
  dropAll(): void {
    for (const outlet of [...this.outlets]) outlet.drop();
  }
}

function encode(encoding: Encoding, events: readonly StoredEvent[]): Buffer {
  if (encoding === 'ws') {
    let json = '[';
    for (let i = 0; i < events.length; i++) json += (i === 0 ? '' : ',') + events[i]!.body;
    return Buffer.from(json + ']');
  }
  let text = '';
  for (const event of events) text += `id: ${event.sequence}\ndata: ${event.body}\n\n`;
  return Buffer.from(text);
}

/** One subscriber's end of the connection, whatever the transport. */
export abstract class Outlet {
  abstract readonly encoding: Encoding;
  closed = false;
  private readonly closeListeners: Array<() => void> = [];

  abstract buffered(): number;
  abstract write(frame: Buffer): void;
  /** Disconnects for reading too slowly, telling the client why when it reads that far. */
  abstract kick(message: string): void;
  /** Disconnects because the subscription failed on the server. */
  abstract fail(message: string): void;
  /** Clean close for shutdown. */
  abstract shutdown(): void;
  /** Immediate destruction of the socket. */
  abstract drop(): void;
  /** Resolves true once the socket drained, false on timeout or close. */
  abstract drained(timeoutMs: number): Promise<boolean>;

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  protected markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}

function waitForDrain(emitter: NodeJS.EventEmitter, isClosed: () => boolean, timeoutMs: number): Promise<boolean> {
  if (isClosed()) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (value: boolean) => {
      clearTimeout(timer);
      emitter.off('drain', onDrain);
      emitter.off('close', onClose);
      resolve(value);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    emitter.on('drain', onDrain);
    emitter.on('close', onClose);
  });
}

export class WebSocketOutlet extends Outlet {
  readonly encoding = 'ws' as const;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly options: StreamOptions,
  ) {
    super();
    ws.on('close', () => this.markClosed());
    ws.on('error', () => ws.terminate());
    // Subscribers only listen; anything they send is ignored (and capped by the server's maxPayload).
    keepAlive(ws, options.heartbeatMs);
  }

  buffered(): number {
    return this.ws.bufferedAmount;
  }

  write(frame: Buffer): void {
    this.ws.send(frame, { binary: false });
  }

  kick(message: string): void {
    this.closeThenDestroy(CLOSE_SLOW_CONSUMER, message, this.options.slowGraceMs);
  }

  fail(message: string): void {
    this.closeThenDestroy(1011, message, this.options.slowGraceMs);
  }

  shutdown(): void {
    this.ws.close(CLOSE_GOING_AWAY, 'server shutting down; reconnect and resume from your last sequence');
  }

  drop(): void {
    this.ws.terminate();
  }

  drained(timeoutMs: number): Promise<boolean> {
    return waitForDrain(this.socket, () => this.closed, timeoutMs);
  }

  private closeThenDestroy(code: number, message: string, graceMs: number): void {
    this.ws.close(code, truncateReason(message));
    setTimeout(() => this.ws.terminate(), graceMs).unref();
  }
}

/** Close reasons are limited to 123 bytes by the WebSocket protocol. */
function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason);
  return bytes.length <= 123 ? reason : bytes.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '') + '...';
}

export class SseOutlet extends Outlet {
  readonly encoding = 'sse' as const;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: StreamOptions,
  ) {
    super();
    res.on('close', () => {
      clearInterval(this.heartbeat);
      this.markClosed();
    });
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    res.write('retry: 1000\n\n');
    this.heartbeat = setInterval(() => {
      if (!res.writableEnded) res.write(': ping\n\n');
    }, options.heartbeatMs);
    this.heartbeat.unref();
  }

  buffered(): number {
    return this.res.writableLength;
  }

  write(frame: Buffer): void {
    this.res.write(frame);
  }

  kick(message: string): void {
    this.endWithError('unavailable', message, 'slow_consumer');
  }

  fail(message: string): void {
    this.endWithError('unavailable', message, 'subscription_failed');
  }

  shutdown(): void {
    if (!this.res.writableEnded) this.res.end();
  }

  drop(): void {
    this.res.destroy();
  }

  drained(timeoutMs: number): Promise<boolean> {
    return waitForDrain(this.res, () => this.closed, timeoutMs);
  }

  private endWithError(code: string, message: string, reason: string): void {
    if (this.res.writableEnded) return;
    const body = JSON.stringify({ error: { code, message, details: { reason } } });
    this.res.end(`event: error\ndata: ${body}\n\n`);
    setTimeout(() => this.res.destroy(), this.options.slowGraceMs).unref();
  }
}
