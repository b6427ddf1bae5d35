/**
 * A subscriber's end of the connection, WebSocket or Server-Sent Events: what is written to it, how
 * much it holds unsent, and how it is closed.
 *
 * Frames are complete wire bytes (for WebSocket, header included), so the same Buffer goes to every
 * subscriber and straight onto its socket, with none of the `ws` library's per-send framing work. Live
 * frames are queued and written in rounds (`SendRounds`): the frames a subscriber gathered since the
 * last round go out in one write.
 */
import type { Duplex } from 'node:stream';
import type { ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import type { StoredEvent } from '../store/contract.js';
import { keepAlive } from './heartbeat.js';

export type Encoding = 'ws' | 'sse';

export interface OutletOptions {
  /** WebSocket ping / SSE comment interval; a WebSocket that misses a pong is dropped. */
  heartbeatMs: number;
  /** How long a disconnected slow subscriber gets to read its close frame before the socket is destroyed. */
  slowGraceMs: number;
}

/** WebSocket close code for a subscriber disconnected for reading too slowly. */
export const CLOSE_SLOW_CONSUMER = 4008;
/** Close code when the server goes away (shutdown). */
export const CLOSE_GOING_AWAY = 1001;

/**
 * The wire bytes of `events` for one transport: a WebSocket text frame holding their JSON array, or one
 * SSE message per event (`id:` its sequence, `data:` its JSON).
 */
export function encodeFrame(encoding: Encoding, events: readonly StoredEvent[]): Buffer {
  if (encoding === 'ws') {
    let json = '[';
    for (let i = 0; i < events.length; i++) json += (i === 0 ? '' : ',') + events[i]!.body;
    return webSocketTextFrame(json + ']');
  }
  let text = '';
  for (const event of events) text += `id: ${event.sequence}\ndata: ${event.body}\n\n`;
  return Buffer.from(text);
}

/** An unmasked, final WebSocket text frame (RFC 6455 §5.2), as a server sends it. */
function webSocketTextFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const headerLength = length < 126 ? 2 : length <= 0xffff ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (length < 126) frame[1] = length;
  else if (length <= 0xffff) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.write(text, headerLength);
  return frame;
}

export abstract class Outlet {
  abstract readonly encoding: Encoding;
  closed = false;
  private readonly closeListeners: Array<() => void> = [];
  private queued: Buffer[] = [];
  private queuedBytes = 0;

  /** Queues a frame for the next send round. */
  queue(frame: Buffer): void {
    if (this.closed) return;
    this.queued.push(frame);
    this.queuedBytes += frame.length;
  }

  /** Writes what is queued, in one write. */
  flush(): void {
    if (this.queued.length === 0) return;
    const frames = this.queued;
    this.discardQueued();
    if (!this.closed) this.writeFrames(frames);
  }

  /** Drops what is queued: nothing may follow a close frame or the end of a response. */
  protected discardQueued(): void {
    this.queued = [];
    this.queuedBytes = 0;
  }

  /** Writes a frame now, after anything queued. */
  writeNow(frame: Buffer): void {
    this.flush();
    if (!this.closed) this.writeFrames([frame]);
  }

  /** Bytes queued or written and not yet sent. */
  buffered(): number {
    return this.queuedBytes + this.unsent();
  }

  protected abstract writeFrames(frames: Buffer[]): void;
  /** Bytes written to the socket and not yet sent. */
  protected abstract unsent(): number;
  /** Disconnects for reading too slowly, telling the client why when it reads that far. */
  abstract kick(message: string): void;
  /** Disconnects because the subscription failed on the server. */
  abstract fail(message: string): void;
  /** Clean close for shutdown, after what is queued. */
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
    this.discardQueued();
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}

/** Writes frames to a stream in one system call: corked, so several become one writev. */
function writeAll(stream: { write(chunk: Buffer): unknown; cork(): void; uncork(): void }, frames: Buffer[]): void {
  if (frames.length === 1) {
    stream.write(frames[0]!);
    return;
  }
  stream.cork();
  for (const frame of frames) stream.write(frame);
  stream.uncork();
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

/**
 * A WebSocket subscriber. Data frames go straight onto the socket; `ws` still answers pings and writes
 * control frames, each a whole frame written synchronously, so the two never interleave inside a frame.
 */
export class WebSocketOutlet extends Outlet {
  readonly encoding = 'ws' as const;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly options: OutletOptions,
  ) {
    super();
    ws.on('close', () => this.markClosed());
    ws.on('error', () => ws.terminate());
    // Subscribers only listen; anything they send is ignored (and capped by the server's maxPayload).
    keepAlive(ws, options.heartbeatMs);
  }

  protected unsent(): number {
    return this.ws.bufferedAmount;
  }

  protected writeFrames(frames: Buffer[]): void {
    // Once `ws` has sent a close frame (a kick, a failure), no data frame may follow it.
    if (this.ws.readyState === this.ws.OPEN) writeAll(this.socket, frames);
  }

  kick(message: string): void {
    this.closeThenDestroy(CLOSE_SLOW_CONSUMER, message, this.options.slowGraceMs);
  }

  fail(message: string): void {
    this.closeThenDestroy(1011, message, this.options.slowGraceMs);
  }

  shutdown(): void {
    this.flush();
    this.ws.close(CLOSE_GOING_AWAY, 'server shutting down; reconnect and resume from your last sequence');
  }

  drop(): void {
    this.ws.terminate();
  }

  drained(timeoutMs: number): Promise<boolean> {
    return waitForDrain(this.socket, () => this.closed, timeoutMs);
  }

  private closeThenDestroy(code: number, message: string, graceMs: number): void {
    this.discardQueued();
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
    private readonly options: OutletOptions,
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

  protected unsent(): number {
    return this.res.writableLength;
  }

  protected writeFrames(frames: Buffer[]): void {
    if (!this.res.writableEnded) writeAll(this.res, frames);
  }

  kick(message: string): void {
    this.endWithError('unavailable', message, 'slow_consumer');
  }

  fail(message: string): void {
    this.endWithError('unavailable', message, 'subscription_failed');
  }

  shutdown(): void {
    this.flush();
    if (!this.res.writableEnded) this.res.end();
  }

  drop(): void {
    this.res.destroy();
  }

  drained(timeoutMs: number): Promise<boolean> {
    return waitForDrain(this.res, () => this.closed, timeoutMs);
  }

  private endWithError(code: string, message: string, reason: string): void {
    this.discardQueued();
    if (this.res.writableEnded) return;
    const body = JSON.stringify({ error: { code, message, details: { reason } } });
    this.res.end(`event: error\ndata: ${body}\n\n`);
    setTimeout(() => this.res.destroy(), this.options.slowGraceMs).unref();
  }
}
